import Foundation
import NIOCore
import TNTProtocol

/// Another protocol's listener beside the native port (the gRPC endpoint, in `TNTGRPC`). It
/// shares the server's models, queues, workers, limits, metrics and shutdown: `TNTServer`
/// starts it before announcing its ports, tells it when draining starts, and stops it once
/// the calls in flight are answered.
public protocol ServerEndpoint: Sendable {
    /// Starts listening and returns the bound address once it is bound.
    func start() async throws -> SocketAddress
    /// Shutdown has begun: new calls are refused UNAVAILABLE, health watchers are told.
    func drainStarted()
    /// Every call in flight has been answered, or the grace is over: close the port and the
    /// connections, and return once they are closed.
    func stop() async
}

extension ServerCore {
    /// Answers one call that arrived by another protocol exactly as the native port would:
    /// refused while draining, authenticated from its metadata, its deadline from
    /// `timeoutMicros`, dispatched to the same queues and workers, recorded in the same metrics
    /// and access log with `protocolName` as its `protocol` label.
    ///
    /// `cancellation.cancel()`, or cancelling the calling task, abandons the call: inputs not
    /// yet computed never are, and the answer is DEADLINE_EXCEEDED if the deadline has (all
    /// but) passed, CANCELLED otherwise.
    public func respond(to request: RequestEnvelope, via protocolName: String, peer: String, stream: String,
                        cancellation: CallCancellation = CallCancellation()) async -> ResponseEnvelope {
        let arrived = uptimeNanos()
        func refuse(_ code: StatusCode, _ message: String, caller: String) -> ResponseEnvelope {
            record(CallRecord(method: request.method, caller: caller, status: code, seconds: 0, peer: peer, stream: stream, protocolName: protocolName))
            return ResponseEnvelope(status: code, message: message)
        }
        guard !isDraining else { return refuse(.unavailable, "server is shutting down; call not processed", caller: "") }
        let caller: Caller
        switch security.caller(of: request) {
        case .success(let known): caller = known
        case .failure(let error): return refuse(error.code, error.message, caller: "unauthenticated")
        }
        let deadline = Deadline.from(timeoutMicros: request.timeoutMicros, arrived: arrived)
        if let deadline, uptimeNanos() >= deadline {
            return refuse(.deadlineExceeded, "deadline exceeded before the call started", caller: caller.name)
        }
        callStarted()
        let answer = cancellation
        answer.setDeadline(deadline)
        let response = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                answer.wait(continuation)
                answer.track(dispatch(request, caller: caller, deadline: deadline) { answer.resolve($0) })
            }
        } onCancel: {
            answer.cancel()
        }
        callEnded()
        record(CallRecord(method: request.method, caller: caller.name, status: response.status,
                          seconds: Double(uptimeNanos() - arrived) / 1e9, peer: peer, stream: stream, protocolName: protocolName))
        return response
    }
}

/// How a call made through `ServerCore.respond` is cancelled from outside (a gRPC stream's
/// reset or expired deadline), and its one answer: the first of the dispatcher's answer and a
/// cancellation wins; the waiting task resumes once.
public final class CallCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<ResponseEnvelope, Never>?
    private var answer: ResponseEnvelope?
    private var resumed = false
    private var predict: PredictCall?
    private var cancelled = false
    private var deadline: UInt64?

    public init() {}

    fileprivate func setDeadline(_ deadline: UInt64?) { lock.withLock { self.deadline = deadline } }

    /// Abandons the call. A gRPC deadline cancels the handler when it expires, measured from a
    /// moment a little before the call arrived here: a few milliseconds short still counts as
    /// expired, and is answered DEADLINE_EXCEEDED.
    public func cancel() {
        let expired = lock.withLock { deadline }.map { uptimeNanos() + 10_000_000 >= $0 } ?? false
        let response = expired ? ResponseEnvelope(status: .deadlineExceeded, message: "deadline exceeded")
                               : ResponseEnvelope(status: .cancelled, message: "cancelled by the client")
        let call: PredictCall? = lock.withLock {
            cancelled = true
            if answer == nil { answer = response }
            return predict
        }
        call?.abandon()
        resumeIfReady()
    }

    fileprivate func wait(_ continuation: CheckedContinuation<ResponseEnvelope, Never>) {
        lock.withLock { self.continuation = continuation }
        resumeIfReady()
    }

    fileprivate func track(_ call: PredictCall?) {
        let abandonNow: Bool = lock.withLock {
            // The call's completion holds this object: keep the call only while unanswered,
            // so that the two never keep each other alive.
            if !resumed { predict = call }
            return cancelled
        }
        if abandonNow { call?.abandon() }
    }

    fileprivate func resolve(_ response: ResponseEnvelope) {
        lock.withLock { if answer == nil { answer = response } }
        resumeIfReady()
    }

    private func resumeIfReady() {
        let ready: (CheckedContinuation<ResponseEnvelope, Never>, ResponseEnvelope)? = lock.withLock {
            guard !resumed, let continuation, let answer else { return nil }
            resumed = true
            self.continuation = nil
            predict = nil
            return (continuation, answer)
        }
        if let (continuation, answer) = ready { continuation.resume(returning: answer) }
    }
}

extension ServerCore {
    /// grpc.health.v1's Check for another protocol: open to every caller like the native Health
    /// call, and answered NOT_SERVING (not refused) while draining, so that probes and load
    /// balancers see the drain.
    public func checkHealth(_ payload: [UInt8], via protocolName: String, peer: String) -> ResponseEnvelope {
        let started = uptimeNanos()
        let response: ResponseEnvelope
        do {
            response = ResponseEnvelope(status: .ok, payload: try health(HealthCheckRequest(protobuf: payload)).protobuf())
        } catch {
            let status = Self.status(of: error, method: Method.healthCheck)
            response = ResponseEnvelope(status: status.code, message: status.message)
        }
        record(CallRecord(method: Method.healthCheck, caller: "", status: response.status,
                          seconds: Double(uptimeNanos() - started) / 1e9, peer: peer, stream: "", protocolName: protocolName))
        return response
    }
}

extension ServerCore {
    /// Counts another protocol's connection against the connection limits (in total and per
    /// address) until it closes; false when it is refused, and the caller closes it.
    public func admit(_ channel: Channel) -> Bool {
        guard case .accepted = register(channel) else { return false }
        channel.closeFuture.whenComplete { [self] _ in unregister(channel) }
        return true
    }
}
