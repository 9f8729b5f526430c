import NIOCore
import NIOHTTP2
import TNTServer

/// One gRPC connection's state, used only on its event loop (its streams share it): the
/// request bytes its streams hold, against `--max-connection-buffer-bytes`, and its idle
/// close: with no stream open for `--idle-timeout`, the connection is closed.
///
/// (grpc-swift-nio-transport 2.9.2 has its own idle timer, but sets `maxAgeTimerHandler` to nil
/// twice where it means to release that timer when a connection closes, so each connection
/// closed with it on leaked its handler (found by LeakSanitizer): it stays off, and this
/// replaces it.)
final class GRPCConnection {
    let limit: Int
    private(set) var held = 0
    private var waiting: [() -> Void] = []
    private let channel: Channel
    private let idleTimeout: TimeAmount
    private var streams = 0
    private var idleClose: Scheduled<Void>?

    init(channel: Channel, limit: Int, idleTimeout: TimeAmount) {
        self.channel = channel
        self.limit = limit
        self.idleTimeout = idleTimeout
        armIdleClose()
    }

    var hasRoom: Bool { held < limit }

    func add(_ bytes: Int) {
        held += bytes
        guard bytes < 0, hasRoom, !waiting.isEmpty else { return }
        let wake = waiting
        waiting.removeAll()
        for resume in wake { resume() }
    }

    func whenRoom(_ resume: @escaping () -> Void) { waiting.append(resume) }

    func streamOpened() {
        streams += 1
        idleClose?.cancel()
        idleClose = nil
    }

    func streamClosed() {
        streams -= 1
        if streams == 0 { armIdleClose() }
    }

    func closed() {
        idleClose?.cancel()
        idleClose = nil
        waiting.removeAll()
    }

    private func armIdleClose() {
        let channel = self.channel
        idleClose = channel.eventLoop.scheduleTask(in: idleTimeout) { channel.close(promise: nil) }
    }
}

/// First in each gRPC stream's pipeline: counts the request bytes the stream has received
/// until it closes, against its connection's budget and the server-wide one (the native
/// port's `--max-buffered-bytes`), and stops reading while either is spent. A stream that
/// does not read does not widen its HTTP/2 window, so its client cannot send more: what a
/// client can make the server hold stays bounded however many streams it opens. And, as a
/// native frame must, the request must arrive whole (END_STREAM) within `--frame-timeout` of
/// its headers, or the stream is reset: a slow client cannot hold a budget and a call slot.
final class StreamBudgetHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let core: ServerCore
    private let connection: GRPCConnection
    private var held = 0
    private var readPending = false
    private var arrival: Scheduled<Void>?
    private var requestComplete = false
    private var released = false

    init(core: ServerCore, connection: GRPCConnection) {
        self.core = core
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) { connection.streamOpened() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if headers.endStream { requestComplete = true } else { watchArrival(context: context) }
        case .data(let frame):
            if case .byteBuffer(let bytes) = frame.data {
                held += bytes.readableBytes
                connection.add(bytes.readableBytes)
                core.adjustBuffered(by: bytes.readableBytes)
            }
            if frame.endStream { requestComplete = true }
        default:
            break
        }
        if requestComplete {
            arrival?.cancel()
            arrival = nil
        }
        context.fireChannelRead(data)
    }

    private func watchArrival(context: ChannelHandlerContext) {
        guard arrival == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        arrival = context.eventLoop.scheduleTask(in: .seconds(Int64(core.config.frameTimeoutSeconds))) {
            bound.value.close(promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        guard connection.hasRoom else {
            pause()
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            connection.whenRoom { bound.value.0.resume(context: bound.value.1) }
            return
        }
        guard core.hasBufferRoom else {
            pause()
            core.waitForBufferRoom(context.channel)
            return
        }
        context.read()
    }

    /// Not reading, for the server's sake: the request's arrival clock stops too.
    private func pause() {
        readPending = true
        arrival?.cancel()
        arrival = nil
    }

    private func resume(context: ChannelHandlerContext) {
        guard readPending else { return }
        readPending = false
        if !requestComplete { watchArrival(context: context) }
        read(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .bufferRoom? = event as? ServerEvent { return resume(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    /// Once, when the stream ends: its bytes go back to the budgets, and the connection counts
    /// one stream fewer.
    private func release() {
        guard !released else { return }
        released = true
        arrival?.cancel()
        arrival = nil
        connection.add(-held)
        core.adjustBuffered(by: -held)
        held = 0
        connection.streamClosed()
    }
}
