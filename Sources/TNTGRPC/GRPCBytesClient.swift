import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import TNTProtocol

/// A plaintext gRPC client that sends and receives protobuf bytes, with grpc-swift's HTTP/2
/// transport: `tnt bench rpc --grpc` loads the gRPC port with it, so that one program measures
/// both ports. Errors come back as `TNTProtocol.RPCError`, as from the native client.
public final class GRPCBytesClient: Sendable {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, Never>

    public init(host: String, port: Int) throws {
        let config = HTTP2ClientTransport.Posix.Config.defaults { c in
            c.channelDebuggingCallbacks.onCreateTCPConnection = { $0.setOption(.tcpOption(.tcp_nodelay), value: 1) }
        }
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: .plaintext, config: config)
        let client = GRPCClient(transport: transport)
        self.client = client
        connections = Task { try? await client.runConnections() }
    }

    /// One unary call of `method` ("/package.Service/Method").
    public func call(_ method: String, _ payload: [UInt8]) async throws -> [UInt8] {
        let parts = method.split(separator: "/")
        guard parts.count == 2 else { throw TNTProtocol.RPCError(.invalidArgument, "'\(method)' is not /package.Service/Method") }
        let descriptor = MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
        let bytes = ProtobufBytes(maxBytes: .max)
        do {
            return try await client.unary(request: ClientRequest(message: payload), descriptor: descriptor, serializer: bytes,
                                          deserializer: bytes, options: .defaults) { try $0.message }
        } catch let error as GRPCCore.RPCError {
            throw TNTProtocol.RPCError(StatusCode(rawValue: UInt32(error.code.rawValue)), error.message)
        }
    }

    public func close() async {
        client.beginGracefulShutdown()
        await connections.value
    }
}
