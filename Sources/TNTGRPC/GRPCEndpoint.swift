import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCertificateReloading
import NIOCore
import NIOPosix
import NIOSSL
import TNTServer
import TNTTLS

/// The standard gRPC port (`--grpc-port`): HTTP/2 with grpc-swift, serving `tnt.v1.Classifier`,
/// `tnt.v1.Models`, `tnt.v1.Health` and `grpc.health.v1.Health` from the server's core, under
/// the same limits (docs/PROTOCOL.md, "gRPC").
public final class GRPCEndpoint: ServerEndpoint, @unchecked Sendable {
    private let core: ServerCore
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let watchers = HealthWatchers()
    private let lock = NSLock()
    private var serving: Task<Void, Never>?

    public init(core: ServerCore, port: Int, group: MultiThreadedEventLoopGroup) throws {
        self.core = core
        let config = core.config
        let transportConfig = HTTP2ServerTransport.Posix.Config.defaults { c in
            c.rpc.maxRequestPayloadSize = ProtobufBytes.transportLimit(config.maxFrameSize)
            c.http2.maxConcurrentStreams = config.maxConcurrentCallsPerConnection
            if config.maxConnectionAgeSeconds > 0 {
                c.connection.maxAge = .seconds(config.maxConnectionAgeSeconds)
                c.connection.maxGraceTime = .seconds(config.maxConnectionAgeGraceSeconds)
            }
            // grpc-swift's own idle timer (`maxIdleTime`) stays off: see `GRPCConnection`.
            let connections = GRPCConnections(limit: config.maxConnectionBufferBytes, idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))
            c.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                // The native port's connection limits (total and per address) count these too.
                guard core.admit(channel) else { return channel.close() }
                connections.open(channel)
                // Answers leave at once, as on the native port: grpc-swift leaves Nagle on.
                return channel.setOption(.tcpOption(.tcp_nodelay), value: 1)
            }
            c.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
                stream.eventLoop.makeCompletedFuture {
                    guard let connection = stream.parent.flatMap(connections.state) else { return }
                    try stream.pipeline.syncOperations.addHandler(StreamBudgetHandler(core: core, connection: connection), position: .first)
                }
            }
        }
        let address: GRPCNIOTransportCore.SocketAddress = config.host.contains(":") ? .ipv6(host: config.host, port: port) : .ipv4(host: config.host, port: port)
        let transport = HTTP2ServerTransport.Posix(
            address: address, transportSecurity: try Self.security(core.security.tls),
            config: transportConfig, eventLoopGroup: group)
        let watchers = self.watchers
        server = GRPCServer(transport: transport, services: [TNTServices(core: core), HealthService(core: core, watchers: watchers)])
    }

    /// Plaintext, or TLS with the native port's certificate (reloaded with it) and, when it
    /// asks for client certificates, the same client CA.
    private static func security(_ identity: TLSServerIdentity?) throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let identity else { return .plaintext }
        let reloader = IdentityReloader(identity: identity)
        guard identity.requiresClientCertificate else { return try .tls(certificateReloader: reloader) }
        let clientCA: [TLSConfig.CertificateSource] = try identity.current.clientCA.map { .bytes(try $0.toDERBytes(), format: .der) }
        return try .mTLS(certificateReloader: reloader) { tls in
            tls.trustRoots = .certificates(clientCA)
            tls.clientCertificateVerification = .noHostnameVerification
        }
    }

    public func start() async throws -> NIOCore.SocketAddress {
        let server = self.server
        let logger = core.logger
        let task = Task {
            do {
                try await server.serve()
            } catch {
                logger.error("gRPC endpoint stopped", metadata: ["error": "\(error)"])
            }
        }
        lock.withLock { serving = task }
        let listening = try await server.listeningAddress
        guard let (host, port) = listening?.ipv4.map({ ($0.host, $0.port) }) ?? listening?.ipv6.map({ ($0.host, $0.port) }) else {
            throw GRPCEndpointError(description: "the gRPC port did not bind")
        }
        let bound = try NIOCore.SocketAddress(ipAddress: host, port: port)
        logger.info("gRPC listening", metadata: ["address": "\(bound)"])
        return bound
    }

    public func drainStarted() { watchers.changed() }

    public func stop() async {
        server.beginGracefulShutdown()
        guard let task = lock.withLock({ serving }) else { return }
        // The calls in flight are answered by now (or the grace is over): give the GOAWAY
        // exchange a moment, then cancel whatever is left.
        let late = Task {
            try? await Task.sleep(for: .seconds(min(5, core.config.writeTimeoutSeconds)))
            task.cancel()
        }
        await task.value
        late.cancel()
    }
}

/// Each open gRPC connection's `GRPCConnection`, found by its streams through their parent channel.
private final class GRPCConnections: @unchecked Sendable {
    private let limit: Int
    private let idleTimeout: TimeAmount
    private let lock = NSLock()
    private var open: [ObjectIdentifier: GRPCConnection] = [:]

    init(limit: Int, idleTimeout: TimeAmount) {
        self.limit = limit
        self.idleTimeout = idleTimeout
    }

    /// Called on the connection's event loop, as it is accepted.
    func open(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        let connection = GRPCConnection(channel: channel, limit: limit, idleTimeout: idleTimeout)
        lock.withLock { open[id] = connection }
        channel.closeFuture.whenComplete { [self] _ in lock.withLock { open.removeValue(forKey: id) }?.closed() }
    }

    func state(_ connection: Channel) -> GRPCConnection? { lock.withLock { open[ObjectIdentifier(connection)] } }
}

struct GRPCEndpointError: Error, CustomStringConvertible {
    let description: String
}

/// The native port's certificate and key, as the gRPC transport's TLS asks for them: it
/// reads them for every new handshake, so a reload (SIGHUP, `--reload-interval`) reaches both ports.
private struct IdentityReloader: CertificateReloader {
    let identity: TLSServerIdentity

    var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        let loaded = identity.current
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = loaded.certificateChain.map { .certificate($0) }
        override.privateKey = .privateKey(loaded.privateKey)
        return override
    }
}
