import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TNTProtocol

/// One TCP connection to a TNTServe server: the preface exchange, then many calls in flight,
/// each answered by one RESPONSE in any order.
public final class Connection: Sendable {
    let channel: Channel
    private let handler: NIOLoopBound<ClientHandler>
    private let status: ConnectionStatus

    /// Connects and sends the preface; returns once the server's first bytes arrive, so that a
    /// connection the server never took (a listener closing with it in its backlog) or a
    /// refused TLS handshake (a certificate either side does not accept) fails here, with its
    /// reason, and no call is sent on it. The server's preface is checked as it arrives.
    public static func connect(host: String, port: Int, maxFrameSize: Int = 16 << 20, tls: TLSOptions? = nil,
                               group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Connection {
        try await connect(host: host, port: port, maxFrameSize: maxFrameSize, tls: tls.map(ClientTLS.init), group: group)
    }

    static func connect(host: String, port: Int, maxFrameSize: Int = 16 << 20, tls: ClientTLS?,
                        group: EventLoopGroup) async throws -> Connection {
        // The handler is made on the connection's event loop before connecting, so that it is
        // known even if the server closes the connection at once.
        let loop = group.next()
        let handler = try await loop.submit { NIOLoopBound(ClientHandler(eventLoop: loop), eventLoop: loop) }.get()
        let status = try await loop.submit { handler.value.status }.get()
        let outcome = ConnectionOutcome(eventLoop: loop, host: tls?.serverName ?? host)
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(PlaintextServerDetector(outcome: outcome))
                        // An IP address is not a name: NIOSSL then checks the certificate's IP addresses.
                        let name = tls.serverName ?? (Resolver.isAddress(host) ? nil : host)
                        try sync.addHandler(NIOSSLClientHandler.verifying(context: tls.context, serverHostname: name, outcome: outcome))
                    }
                    try sync.addHandler(ServerPrefaceWatch(outcome: outcome))
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))
                    try sync.addHandler(handler.value)
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            outcome.ready.fail(error)
            throw error
        }
        do {
            try await outcome.ready.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        return Connection(channel: channel, handler: handler, status: status)
    }

    init(channel: Channel, handler: NIOLoopBound<ClientHandler>, status: ConnectionStatus) {
        self.channel = channel
        self.handler = handler
        self.status = status
    }

    /// Open, and no GOAWAY received: new calls may start here.
    public var isUsable: Bool { channel.isActive && !status.goAwayReceived }

    /// Starts a call; returns its stream id (for `cancel`) and its response.
    public func start(_ request: RequestEnvelope) async throws -> (streamID: UInt32, response: EventLoopFuture<ResponseEnvelope>) {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.value.start(request) }.get()
    }

    /// Starts a call from async code.
    public func call(_ request: RequestEnvelope) async throws -> ResponseEnvelope {
        let handler = self.handler
        let response = try await channel.eventLoop.submit { handler.value.start(request).response }.get()
        return try await response.get()
    }

    /// Sends a REQUEST frame whose payload is `envelope` as given, valid or not (for tests of
    /// malformed input), and returns the server's answer.
    public func call(rawEnvelope envelope: [UInt8]) async throws -> ResponseEnvelope {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.value.start(rawEnvelope: envelope).response }.get().get()
    }

    /// Asks the server to cancel the call on `streamID`; it answers that call CANCELLED.
    public func cancel(streamID: UInt32) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.cancel(streamID) }
    }

    /// Round trip of a PING.
    public func ping() async throws -> Duration {
        let handler = self.handler
        let start = ContinuousClock.now
        try await channel.eventLoop.submit { handler.value.ping() }.get().get()
        return ContinuousClock.now - start
    }

    /// Writes bytes as they are, for tests of malformed input.
    public func writeRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The GOAWAY the server sent, if any.
    public func goAway() async throws -> GoAway? {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.value.receivedGoAway }.get()
    }

    /// Whether the TCP connection is open.
    public var isActive: Bool { channel.isActive }

    /// Resolves when the connection is closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        try? await channel.close()
    }
}

/// A call the server did not process, so it is safe to send again (to any server).
public struct NotProcessed: Error, CustomStringConvertible {
    /// Why the call was not processed.
    public let reason: String
    /// The reason, prefixed.
    public var description: String { "not processed: \(reason)" }
}

/// What the connection's event loop tells other threads.
final class ConnectionStatus: @unchecked Sendable {
    private let lock = NSLock()
    private var goAway = false

    var goAwayReceived: Bool { lock.withLock { goAway } }
    func markGoAway() { lock.withLock { goAway = true } }
}

final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    let status = ConnectionStatus()
    private var context: ChannelHandlerContext?
    private var nextStreamID: UInt32 = 1
    private var pending: [UInt32: EventLoopPromise<ResponseEnvelope>] = [:]
    private var pings: [EventLoopPromise<Void>] = []
    private(set) var receivedGoAway: GoAway?

    private let eventLoop: EventLoop

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The context holds this handler: dropping it here lets both go with the channel.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: ConnectionPreface.bytes)), promise: nil)
        context.fireChannelActive()
    }

    func start(_ request: RequestEnvelope) -> (streamID: UInt32, response: EventLoopFuture<ResponseEnvelope>) {
        start(rawEnvelope: request.protobuf())
    }

    func start(rawEnvelope: [UInt8]) -> (streamID: UInt32, response: EventLoopFuture<ResponseEnvelope>) {
        let id = nextStreamID
        nextStreamID += 1
        let promise = eventLoop.makePromise(of: ResponseEnvelope.self)
        guard let context, context.channel.isActive, receivedGoAway == nil else {
            promise.fail(NotProcessed(reason: receivedGoAway.map { "server sent GOAWAY: \($0.message)" } ?? "connection is closed"))
            return (id, promise.futureResult)
        }
        pending[id] = promise
        write(Frame(type: .request, streamID: id, payload: ByteBuffer(bytes: rawEnvelope)))
        return (id, promise.futureResult)
    }

    func cancel(_ id: UInt32) {
        guard pending[id] != nil else { return }
        write(Frame(type: .cancel, streamID: id))
    }

    func ping() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        guard context != nil else {
            promise.fail(RPCError(.unavailable, "connection is closed"))
            return promise.futureResult
        }
        pings.append(promise)
        write(Frame(type: .ping, streamID: 0, payload: ByteBuffer(bytes: [UInt8](repeating: 7, count: 8))))
        return promise.futureResult
    }

    private func write(_ frame: Frame) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(FrameEncoder.encoded(frame, allocator: context.channel.allocator)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.type {
        case .response:
            guard let promise = pending.removeValue(forKey: frame.streamID) else { return }
            do {
                promise.succeed(try ResponseEnvelope(protobuf: Array(frame.payload.readableBytesView)))
            } catch {
                promise.fail(RPCError(.internal, "server sent \(error)"))
            }
        case .pong:
            if !pings.isEmpty { pings.removeFirst().succeed(()) }
        case .ping:
            write(Frame(type: .pong, streamID: 0, payload: frame.payload))
        case .goAway:
            let goAway = (try? GoAway(protobuf: Array(frame.payload.readableBytesView)))
                ?? GoAway(lastStreamID: 0, status: .unavailable, message: "malformed GOAWAY")
            receivedGoAway = goAway
            status.markGoAway()
            // Calls above last_stream_id were not processed: safe to retry elsewhere.
            for (id, promise) in pending where id > goAway.lastStreamID {
                pending.removeValue(forKey: id)
                promise.fail(NotProcessed(reason: "server sent GOAWAY (\(goAway.message))"))
            }
        case .request, .cancel:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = receivedGoAway.map { "connection closed after GOAWAY: \($0.status.name) \($0.message)" } ?? "connection closed"
        // These calls reached the server and may have run: not safe to send again.
        for (_, promise) in pending { promise.fail(RPCError(.unavailable, reason + " with the call in flight")) }
        pending.removeAll()
        for promise in pings { promise.fail(RPCError(.unavailable, reason)) }
        pings.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
