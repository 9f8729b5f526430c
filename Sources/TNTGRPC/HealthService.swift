import Foundation
import GRPCCore
import TNTProtocol
import TNTServer

/// The standard `grpc.health.v1.Health` (Check and Watch), which Kubernetes' gRPC probes and
/// gRPC load balancers call. Its messages have the same fields as `tnt.v1.Health`'s.
struct HealthService: RegistrableRPCService {
    let core: ServerCore
    let watchers: HealthWatchers

    static let check = MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check", type: .unary)
    static let watch = MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Watch", type: .serverStreaming)

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: Self.check, deserializer: ProtobufBytes(maxBytes: core.config.maxFrameSize), serializer: ProtobufBytes(maxBytes: .max)) { request, context in
            let single = try await ServerRequest(stream: request)
            let response = core.checkHealth(single.message, via: "grpc", peer: context.remotePeer)
            guard response.status == .ok else { throw GRPCCore.RPCError(response) }
            return StreamingServerResponse(single: ServerResponse(message: response.payload))
        }
        router.registerHandler(forMethod: Self.watch, deserializer: ProtobufBytes(maxBytes: core.config.maxFrameSize), serializer: ProtobufBytes(maxBytes: .max)) { request, context in
            let single = try await ServerRequest(stream: request)
            let service = try HealthCheckRequest(protobuf: single.message).service
            return StreamingServerResponse { writer in
                try await watch(service, writer)
                return [:]
            }
        }
    }

    /// Sends the status now and again whenever it changes (checked on every change the server
    /// announces, and each second for models); ends after NOT_SERVING once the server drains.
    private func watch(_ service: String, _ writer: RPCWriter<[UInt8]>) async throws {
        let (changes, id) = watchers.subscribe()
        defer { watchers.unsubscribe(id) }
        try await withRPCCancellationHandler {
            var last: HealthCheckResponse.ServingStatus?
            for await _ in changes {
                // An unknown service is not an error for Watch: SERVICE_UNKNOWN, and the stream stays open.
                let status = (try? core.health(HealthCheckRequest(service: service)).status) ?? .serviceUnknown
                if status != last {
                    try await writer.write(HealthCheckResponse(status: status).protobuf())
                    last = status
                }
                if core.isDraining { return }
            }
        } onCancelRPC: {
            watchers.end(id)
        }
    }
}

/// The open Watch streams, each woken on every announced change and once a second.
final class HealthWatchers: @unchecked Sendable {
    private let lock = NSLock()
    private var streams: [UInt64: AsyncStream<Void>.Continuation] = [:]
    private var nextID: UInt64 = 0
    private var ticker: Task<Void, Never>?

    func subscribe() -> (AsyncStream<Void>, UInt64) {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.yield()
        let id: UInt64 = lock.withLock {
            nextID += 1
            streams[nextID] = continuation
            if ticker == nil {
                ticker = Task { [weak self] in
                    while !Task.isCancelled, let self {
                        try? await Task.sleep(for: .seconds(1))
                        self.changed()
                    }
                }
            }
            return nextID
        }
        return (stream, id)
    }

    func unsubscribe(_ id: UInt64) {
        lock.withLock {
            streams.removeValue(forKey: id)?.finish()
            if streams.isEmpty {
                ticker?.cancel()
                ticker = nil
            }
        }
    }

    /// Ends one stream's wait (its call was cancelled).
    func end(_ id: UInt64) { _ = lock.withLock { streams[id] }?.finish() }

    /// Wakes every watcher to look at the status again.
    func changed() {
        for stream in lock.withLock({ Array(streams.values) }) { stream.yield() }
    }
}
