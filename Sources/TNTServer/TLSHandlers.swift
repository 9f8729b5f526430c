import Logging
import NIOCore
import NIOSSL
import NIOTLS
import TNTProtocol
import TNTTLS

/// The pipeline of a TLS port: plaintext detection, then NIOSSL, then the handshake's watch,
/// then the port's own handlers.
enum TLSPipeline {
    /// `port` is "rpc" or "admin"; the admin port asks no client certificate.
    static func add(to channel: Channel, identity: TLSServerIdentity, core: ServerCore, port: String) throws {
        let sync = channel.pipeline.syncOperations
        let watch = TLSHandshakeWatch(logger: core.logger, timeout: .seconds(Int64(core.config.frameTimeoutSeconds)), port: port)
        try sync.addHandler(PlaintextOnTLSPort(logger: core.logger, port: port, watch: watch))
        try sync.addHandler(NIOSSLServerHandler.explaining(context: port == "admin" ? identity.serverOnlyContext : identity.context, to: watch))
        try sync.addHandler(watch)
    }
}

/// First in a TLS port's pipeline: a connection whose first byte is not a TLS handshake
/// record but the start of a TNTServe preface is a plaintext client. It gets a plaintext
/// preface and a GOAWAY saying so, instead of a TLS alert it cannot read. Anything else is
/// left to NIOSSL.
final class PlaintextOnTLSPort: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let logger: Logger
    private let port: String
    private let watch: TLSHandshakeWatch

    init(logger: Logger, port: String, watch: TLSHandshakeWatch) {
        self.logger = logger
        self.port = port
        self.watch = watch
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        // A TLS record starts with its type (0x16 for a handshake), never with 'T'.
        guard first == ConnectionPreface.bytes[0] else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            return
        }
        let peer = context.channel.remoteAddress?.description ?? "unknown"
        logger.notice("plaintext client on a TLS port; closing", metadata: ["peer": "\(peer)", "port": "\(port)"])
        watch.explained = true
        if port == "admin" {
            // An HTTP client: no TNTServe frames, just close.
            context.close(promise: nil)
            return
        }
        var answer = context.channel.allocator.buffer(capacity: 128)
        answer.writeBytes(ConnectionPreface.bytes)
        let goAway = GoAway(lastStreamID: 0, status: .unavailable,
                            message: "this port requires TLS; connect with TLS (tnt: --tls-ca; Python: tls=ssl context)")
        FrameEncoder.write(Frame(type: .goAway, streamID: 0, payload: ByteBuffer(bytes: goAway.protobuf())), to: &answer)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(answer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// After NIOSSL: closes a connection whose handshake does not finish within the timeout (a
/// slow or silent peer), logs why a handshake failed, and leaves the pipeline once it succeeded.
final class TLSHandshakeWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let logger: Logger
    private let timeout: TimeAmount
    private let port: String
    private var timer: Scheduled<Void>?
    /// The connection's failure was already logged (a plaintext client): log nothing more.
    var explained = false
    /// Why the client's certificate was refused, from BoringSSL's verdict on it.
    var certificateVerdict: String?

    init(logger: Logger, timeout: TimeAmount, port: String) {
        self.logger = logger
        self.timeout = timeout
        self.port = port
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let seconds = timeout.nanoseconds / 1_000_000_000
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (watch, context) = bound.value
            watch.logger.notice("TLS handshake did not finish in time; closing",
                                metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "unknown")", "seconds": "\(seconds)", "port": "\(watch.port)"])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            timer?.cancel()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !explained {
            logger.notice("TLS handshake failed", metadata: [
            "peer": "\(context.channel.remoteAddress?.description ?? "unknown")", "port": "\(port)",
                "reason": "\(certificateVerdict ?? TLSFailure.describe(error, by: .server) ?? "\(error)")",
            ])
        }
        timer?.cancel()
        context.fireErrorCaught(error)
    }
}

extension NIOSSLServerHandler {
    /// A server handler that tells `watch` why a client certificate was refused (expired, not
    /// yet valid, untrusted). NIOSSL marks this initialiser deprecated in favour of replacing
    /// verification entirely; it is the one hook that observes the built-in verification
    /// without replacing it.
    static func explaining(context: NIOSSLContext, to watch: TLSHandshakeWatch) throws -> NIOSSLServerHandler {
        try NIOSSLServerHandler(context: context) { result, certificate in
            if let why = TLSFailure.explain(result, certificate, of: "client"), watch.certificateVerdict == nil {
                watch.certificateVerdict = why
            }
            return result
        }
    }
}
