import Testing
@testable import TNTClient

@Suite struct RetryPolicyTests {
    @Test func backoffGrowsWithJitterAndStopsAtTheCap() {
        let policy = RetryPolicy(maxAttempts: 10, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), multiplier: 2, jitter: 0.2)
        for attempt in 1...8 {
            let base = min(1000.0, 100 * Double(1 << (attempt - 1)))
            for _ in 0..<50 {
                let pause = policy.backoff(after: attempt)
                let ms = Double(pause.components.seconds) * 1000 + Double(pause.components.attoseconds) / 1e15
                #expect(ms >= base * 0.8 - 1 && ms <= base * 1.2 + 1, "attempt \(attempt): \(ms) ms")
            }
        }
        #expect(RetryPolicy.none.maxAttempts == 1)
    }

    /// An endpoint down for hours counts thousands of failures: the backoff stays at the cap
    /// (found by the ThreadSanitizer run, whose slowness let the reconnect count run away).
    @Test func backoffAfterThousandsOfFailuresStaysAtTheCap() {
        let policy = RetryPolicy()
        for attempt in [64, 65, 1_000, 100_000, Int.max] {
            let pause = policy.backoff(after: attempt)
            #expect(pause >= .milliseconds(1_599) && pause <= .milliseconds(2_401), "attempt \(attempt): \(pause)")
        }
    }

    @Test func theEarlierOfTimeoutAndDeadlineCounts() {
        let start = ContinuousClock.now
        #expect(CallOptions().effectiveDeadline(from: start) == nil)
        #expect(CallOptions(timeout: .seconds(2)).effectiveDeadline(from: start) == start + .seconds(2))
        #expect(CallOptions(deadline: start + .seconds(1)).effectiveDeadline(from: start) == start + .seconds(1))
        #expect(CallOptions(timeout: .seconds(2), deadline: start + .seconds(1)).effectiveDeadline(from: start) == start + .seconds(1))
        #expect(CallOptions(timeout: .seconds(1), deadline: start + .seconds(3)).effectiveDeadline(from: start) == start + .seconds(1))
    }

    @Test func endpointsMustBeHostAndPort() throws {
        _ = try TNTClient(endpoints: ["127.0.0.1:50051", "[::1]:50051", "tnt.example:1"])
        for bad in [[], ["localhost"], ["host:port"], ["host:0"]] {
            #expect(throws: (any Error).self) { try TNTClient(endpoints: bad) }
        }
    }
}
