import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TNTProtocol

/// The RPC server as a swift-service-lifecycle `Service`: it serves until graceful shutdown,
/// then stops accepting, sends GOAWAY, lets calls in flight finish within the grace period,
/// and returns.
public final class TNTServer: Service, @unchecked Sendable {
    public let core: ServerCore
    private let group: MultiThreadedEventLoopGroup
    private let onListening: @Sendable (ListeningAddresses) -> Void
    private let metrics: @Sendable () -> String
    private let endpoints: [any ServerEndpoint]

    /// Where the server listens once bound (port 0 picks a free port).
    public struct ListeningAddresses: Sendable {
        public let rpc: SocketAddress
        public let admin: SocketAddress?
        /// The other protocols' endpoints, in the order they were given.
        public let endpoints: [SocketAddress]
    }

    /// - Parameters:
    ///   - metrics: the Prometheus text for `/metrics`.
    ///   - endpoints: other protocols' listeners (gRPC), made from the server's core.
    ///   - onListening: called once every port is bound.
    public init(config: ServerConfig, logger: Logger, metrics: @escaping @Sendable () -> String = { "" },
                endpoints: (ServerCore) throws -> [any ServerEndpoint] = { _ in [] },
                onListening: @escaping @Sendable (ListeningAddresses) -> Void = { _ in }) throws {
        core = try ServerCore(config: FileDescriptorLimit.fit(config, logger: logger), logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.onListening = onListening
        self.metrics = metrics
        self.endpoints = try endpoints(core)
    }

    public func run() async throws {
        let core = self.core
        let config = core.config
        // SIGHUP, and the optional poll, rescan the model repository and read the certificate
        // and token files again. Set up before the port is announced: a SIGHUP sent as soon as
        // the server says it listens must not be lost.
        signal(SIGHUP, SIG_IGN)
        let reloads = DispatchQueue(label: "tnt-reload")
        let reloadAll: @Sendable () -> Void = { core.reload(); core.security.reload() }
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: reloads)
        hangup.setEventHandler(handler: reloadAll)
        hangup.resume()
        // (A dispatch source must be resumed before it is released: create the timer only if used.)
        var poll: DispatchSourceTimer?
        if config.reloadIntervalSeconds > 0 {
            let timer = DispatchSource.makeTimerSource(queue: reloads)
            timer.schedule(deadline: .now() + .seconds(config.reloadIntervalSeconds), repeating: .seconds(config.reloadIntervalSeconds))
            timer.setEventHandler(handler: reloadAll)
            timer.resume()
            poll = timer
        }
        defer {
            hangup.cancel()
            poll?.cancel()
        }

        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let identity = core.security.tls {
                        try TLSPipeline.add(to: channel, identity: identity, core: core, port: "rpc")
                    }
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(core: core))
                }
            }
            .bind(host: config.host, port: config.port).get()
        var admin: Channel?
        if let adminPort = config.adminPort {
            admin = try await Self.bindAdmin(core: core, group: group, host: config.host, port: adminPort, metrics: metrics)
            core.logger.info("admin listening", metadata: ["address": "\(admin!.localAddress!)"])
        }
        var endpointAddresses: [SocketAddress] = []
        for endpoint in endpoints { endpointAddresses.append(try await endpoint.start()) }
        core.logger.info("listening", metadata: ["address": "\(channel.localAddress!)"])
        onListening(ListeningAddresses(rpc: channel.localAddress!, admin: admin?.localAddress, endpoints: endpointAddresses))

        let trimmer = MemoryReturn.start()
        defer { trimmer.cancel() }

        try? await gracefulShutdown()

        core.logger.info("draining", metadata: ["calls_in_flight": "\(core.callsInFlight)"])
        core.startDraining()
        for endpoint in endpoints { endpoint.drainStarted() }
        try? await channel.close()
        let graceEnd = ContinuousClock.now + .seconds(config.shutdownGraceSeconds)
        while core.callsInFlight > 0 && ContinuousClock.now < graceEnd {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for endpoint in endpoints { await endpoint.stop() }
        let unfinished = core.callsInFlight
        if unfinished > 0 {
            core.logger.warning("shutdown grace expired; answering the calls still in flight UNAVAILABLE",
                                metadata: ["calls": "\(unfinished)"])
            core.endGrace()
            // Those answers reach the peers that read them; the others are closed by the write timeout.
            let flushEnd = ContinuousClock.now + .seconds(min(5, config.writeTimeoutSeconds))
            while core.openConnections > 0 && ContinuousClock.now < flushEnd {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        core.logger.info("stopping", metadata: ["open_connections": "\(core.openConnections)"])
        core.closeAllConnections()
        core.stopWorkers()
        try? await admin?.close()
        try await group.shutdownGracefully()
    }
}
