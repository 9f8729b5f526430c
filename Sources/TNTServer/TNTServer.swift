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
    private let onListening: @Sendable (SocketAddress, SocketAddress?) -> Void
    private let metrics: @Sendable () -> String

    /// - Parameters:
    ///   - onListening: called with the bound RPC address and the admin address, if any (port 0
    ///     picks a free port).
    ///   - metrics: the Prometheus text for `/metrics`.
    public init(config: ServerConfig, logger: Logger, metrics: @escaping @Sendable () -> String = { "" },
                onListening: @escaping @Sendable (SocketAddress, SocketAddress?) -> Void = { _, _ in }) throws {
        core = try ServerCore(config: FileDescriptorLimit.fit(config, logger: logger), logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.onListening = onListening
        self.metrics = metrics
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
        core.logger.info("listening", metadata: ["address": "\(channel.localAddress!)"])
        onListening(channel.localAddress!, admin?.localAddress)

        let trimmer = MemoryReturn.start()
        defer { trimmer.cancel() }

        try? await gracefulShutdown()

        core.logger.info("draining", metadata: ["calls_in_flight": "\(core.callsInFlight)"])
        core.startDraining()
        try? await channel.close()
        let graceEnd = ContinuousClock.now + .seconds(config.shutdownGraceSeconds)
        while core.callsInFlight > 0 && ContinuousClock.now < graceEnd {
            try? await Task.sleep(for: .milliseconds(10))
        }
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
