import Foundation
import GRPCCore
import TNTProtocol
import TNTServer

/// `tnt.v1.Classifier`, `tnt.v1.Models` and `tnt.v1.Health` over gRPC: each call goes through
/// `ServerCore.respond`, the native port's dispatch, queues and workers.
struct TNTServices: RegistrableRPCService {
    let core: ServerCore

    static let methods = [Method.predict, Method.listModels, Method.getModel, Method.healthCheck]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for path in Self.methods {
            let parts = path.split(separator: "/")
            let descriptor = MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]), type: .unary)
            router.registerHandler(forMethod: descriptor, deserializer: ProtobufBytes(maxBytes: core.config.maxFrameSize), serializer: ProtobufBytes(maxBytes: .max)) { request, context in
                let single = try await ServerRequest(stream: request)
                return StreamingServerResponse(single: try await unary(path, single, context))
            }
        }
    }

    private func unary(_ method: String, _ request: ServerRequest<[UInt8]>, _ context: ServerContext) async throws -> ServerResponse<[UInt8]> {
        var metadata: [MetadataEntry] = []
        var timeoutMicros: UInt64 = 0
        for (key, value) in request.metadata {
            guard case .string(let text) = value else { continue }
            if key == "grpc-timeout" { timeoutMicros = GRPCTimeout.micros(text) ?? 0 } else { metadata.append(MetadataEntry(key, text)) }
        }
        let envelope = RequestEnvelope(method: method, timeoutMicros: timeoutMicros, metadata: metadata, payload: request.message)
        // gRPC signals a client's cancel (RST_STREAM) and an expired grpc-timeout through the
        // RPC's cancellation handle.
        let cancellation = CallCancellation()
        let response = await withRPCCancellationHandler {
            await core.respond(to: envelope, via: "grpc", peer: context.remotePeer, stream: "", cancellation: cancellation)
        } onCancelRPC: {
            cancellation.cancel()
        }
        guard response.status == .ok else { throw GRPCCore.RPCError(response) }
        return ServerResponse(message: response.payload)
    }
}

extension GRPCCore.RPCError {
    /// A native answer's status and message as a gRPC error (the codes are the same numbers).
    init(_ response: ResponseEnvelope) {
        let code = Status.Code(rawValue: Int(response.status.rawValue)).flatMap(GRPCCore.RPCError.Code.init) ?? .unknown
        self.init(code: code, message: response.message)
    }
}
