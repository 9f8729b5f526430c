import Logging
import NIOCore
import TNTProtocol

/// One client connection: the preface, then frames. Many calls run at once; each gets exactly
/// one RESPONSE, in whatever order they finish.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private struct ActiveCall {
        var method: String
        var started: UInt64
        var predict: PredictCall?
        var timeout: Scheduled<Void>?
    }

    private let core: ServerCore
    private var calls: [UInt32: ActiveCall] = [:]
    private var lastStreamID: UInt32 = 0
    private var goingAway = false
    private var registered = false

    init(core: ServerCore) { self.core = core }

    func channelActive(context: ChannelHandlerContext) {
        var preface = context.channel.allocator.buffer(capacity: 8)
        preface.writeBytes(ConnectionPreface.bytes)
        context.write(wrapOutboundOut(preface), promise: nil)
        registered = core.register(context.channel)
        if !registered {
            goAway(context: context, status: .resourceExhausted, message: "server is at its limit of \(core.config.maxConnections) connections")
            return
        }
        if core.isDraining {
            goAway(context: context, status: .unavailable, message: "server is shutting down")
            return
        }
        context.flush()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        for (_, call) in calls {
            call.timeout?.cancel()
            call.predict?.abandon()
            core.callEnded()
        }
        calls.removeAll()
        if registered { core.unregister(context.channel) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.type {
        case .request:
            request(context: context, frame: frame)
        case .cancel:
            if let call = calls[frame.streamID] {
                call.predict?.abandon()
                finish(context: context, streamID: frame.streamID, ResponseEnvelope(status: .cancelled, message: "cancelled by the client"))
            }
        case .ping:
            write(context: context, Frame(type: .pong, streamID: 0, payload: frame.payload))
        case .pong:
            break
        case .response, .goAway:
            goAway(context: context, status: .invalidArgument, message: "a client does not send \(frame.type) frames")
        }
    }

    private func request(context: ChannelHandlerContext, frame: Frame) {
        let id = frame.streamID
        guard id > lastStreamID else {
            goAway(context: context, status: .invalidArgument, message: "stream id \(id) is not above the previous \(lastStreamID)")
            return
        }
        lastStreamID = id
        guard !goingAway && !core.isDraining else {
            return respondNow(context: context, streamID: id, .unavailable, "server is shutting down; call not processed")
        }
        guard calls.count < core.config.maxConcurrentCallsPerConnection else {
            return respondNow(context: context, streamID: id, .resourceExhausted,
                              "\(calls.count) calls already in flight on this connection; the limit is \(core.config.maxConcurrentCallsPerConnection)")
        }
        let envelope: RequestEnvelope
        do {
            envelope = try RequestEnvelope(protobuf: Array(frame.payload.readableBytesView))
        } catch {
            return respondNow(context: context, streamID: id, .invalidArgument, "\(error)")
        }
        let deadline = envelope.timeoutMicros > 0 ? uptimeNanos() + envelope.timeoutMicros * 1000 : nil
        calls[id] = ActiveCall(method: envelope.method, started: uptimeNanos())
        core.callStarted()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let predict = core.dispatch(envelope, deadline: deadline) { response in
            bound.eventLoop.execute { bound.value.finish(context: boundContext.value, streamID: id, response) }
        }
        calls[id]?.predict = predict
        if envelope.timeoutMicros > 0 {
            calls[id]?.timeout = context.eventLoop.scheduleTask(in: .microseconds(Int64(clamping: envelope.timeoutMicros))) {
                bound.value.expire(context: boundContext.value, streamID: id)
            }
        }
    }

    private func expire(context: ChannelHandlerContext, streamID: UInt32) {
        guard let call = calls[streamID] else { return }
        call.predict?.abandon()
        finish(context: context, streamID: streamID, ResponseEnvelope(status: .deadlineExceeded, message: "deadline exceeded"))
    }

    /// Answers a call that never started.
    private func respondNow(context: ChannelHandlerContext, streamID: UInt32, _ code: StatusCode, _ message: String) {
        ServerMetrics.call(method: "other", status: code, seconds: 0)
        write(context: context, Frame(type: .response, streamID: streamID,
                                      payload: ByteBuffer(bytes: ResponseEnvelope(status: code, message: message).protobuf())))
    }

    /// Answers a call in flight, once; later answers for it (a worker finishing after a
    /// cancel) are dropped.
    private func finish(context: ChannelHandlerContext, streamID: UInt32, _ response: ResponseEnvelope) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        call.timeout?.cancel()
        core.callEnded()
        ServerMetrics.call(method: call.method, status: response.status, seconds: Double(uptimeNanos() - call.started) / 1e9)
        write(context: context, Frame(type: .response, streamID: streamID, payload: ByteBuffer(bytes: response.protobuf())))
        if goingAway && calls.isEmpty { context.close(promise: nil) }
    }

    private func write(context: ChannelHandlerContext, _ frame: Frame) {
        context.writeAndFlush(wrapOutboundOut(FrameEncoder.encoded(frame, allocator: context.channel.allocator)), promise: nil)
    }

    /// GOAWAY, then close once the calls in flight are answered (at once for a violation).
    private func goAway(context: ChannelHandlerContext, status: StatusCode, message: String, closeNow: Bool = true) {
        let payload = GoAway(lastStreamID: lastStreamID, status: status, message: message).protobuf()
        write(context: context, Frame(type: .goAway, streamID: 0, payload: ByteBuffer(bytes: payload)))
        goingAway = true
        if closeNow || calls.isEmpty { context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? IdleStateHandler.IdleStateEvent, event == .all {
            if calls.isEmpty { goAway(context: context, status: .ok, message: "idle for \(core.config.idleTimeoutSeconds) s") }
        } else if let event = event as? ServerEvent, event == .drain {
            if !goingAway { goAway(context: context, status: .unavailable, message: "server is shutting down", closeNow: false) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let violation = error as? ProtocolViolation {
            core.logger.info("closing connection", metadata: ["reason": "\(violation)"])
            if case .frameTooLarge = violation {
                goAway(context: context, status: .resourceExhausted, message: violation.description)
            } else {
                goAway(context: context, status: .invalidArgument, message: violation.description)
            }
        } else {
            core.logger.warning("closing connection after an error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }
}
