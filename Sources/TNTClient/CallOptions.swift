import Foundation
import TNTProtocol

/// Per-call settings.
public struct CallOptions: Sendable {
    /// How long the call may take in all, retries and backoff included; nil for no limit.
    public var timeout: Duration?
    /// An absolute deadline; when both are set, the earlier one counts.
    public var deadline: ContinuousClock.Instant?
    /// Metadata sent with the call.
    public var metadata: [MetadataEntry]

    /// - Parameters:
    ///   - timeout: the call's deadline relative to its start; the server gets what remains of it.
    ///   - deadline: the same, as an instant (for a deadline shared by several calls).
    ///   - metadata: key/value pairs sent with the call.
    public init(timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil, metadata: [MetadataEntry] = []) {
        self.timeout = timeout
        self.deadline = deadline
        self.metadata = metadata
    }

    /// The instant the call must be answered by, if any.
    func effectiveDeadline(from start: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        switch (timeout.map { start + $0 }, deadline) {
        case let (a?, b?): min(a, b)
        case let (a, b): a ?? b
        }
    }
}

/// When and how often a call that the server did not process is sent again.
///
/// Only calls known not to have been processed are retried: the connection could not be
/// made, the server answered UNAVAILABLE (it refuses before doing any work), or its GOAWAY
/// said the call was not accepted. A call lost with its connection may have run and is not
/// retried.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The pause before the second attempt.
    public var initialBackoff: Duration
    /// The longest pause between attempts.
    public var maxBackoff: Duration
    /// Each pause is this many times the previous one.
    public var multiplier: Double
    /// Each backoff is scaled by a random factor in 1 ± jitter.
    public var jitter: Double

    /// The defaults: 5 attempts, backoff from 50 ms doubling to at most 2 s, ±20% jitter.
    public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(50), maxBackoff: Duration = .seconds(2),
                multiplier: Double = 2, jitter: Double = 0.2) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// No retries.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The pause before attempt `attempt + 1` (attempt counts from 1).
    /// Computed in seconds and capped before scaling: an endpoint that fails for hours counts
    /// thousands of attempts, and 2^1000 does not fit a Duration.
    func backoff(after attempt: Int) -> Duration {
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        let growth = pow(max(multiplier, 1), Double(min(max(attempt - 1, 0), 64)))
        let base = min(seconds(maxBackoff), seconds(initialBackoff) * growth)
        return .seconds(max(0, base * Double.random(in: (1 - jitter)...(1 + jitter))))
    }
}

