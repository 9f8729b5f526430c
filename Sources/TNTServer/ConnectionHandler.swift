import Foundation
import Logging
import NIOCore
import TNTProtocol

/// One client connection: the preface, then frames. Many calls run at once; each call read
/// gets exactly one RESPONSE, in whatever order they finish (docs/PROTOCOL.md).
///
/// The handler parses frames itself, so that it sees a frame that is arriving too slowly, and
/// sits at the tail of the pipeline, so that it decides when the channel reads: it stops
/// reading while the connection holds `maxConnectionBufferBytes` or the socket is full
/// (ConnectionHandler+FlowControl.swift).
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct ActiveCall {
        var method: String
        var caller: String
        var started: UInt64
        var requestBytes: Int
        var predict: PredictCall?
        var timeout: Scheduled<Void>?
    }

    enum Phase {
        /// Reading and accepting calls.
        case open
        /// GOAWAY sent: calls already accepted are answered, new REQUESTs get UNAVAILABLE.
        case goingAway
        /// GOAWAY sent after a violation, or the peer closed its side: nothing more is read;
        /// the connection closes once its calls are answered.
        case finishing
    }

    let core: ServerCore
    var config: ServerConfig { core.config }
    var decoder: FrameDecoder
    var inbound = ByteBuffer()
    var calls: [UInt32: ActiveCall] = [:]
    var lastStreamID: UInt32 = 0
    var phase = Phase.open
    var registered = false
    var closing = false

    // Flow control and timers (ConnectionHandler+FlowControl.swift).
    var requestBytesInFlight = 0
    var accountedBytes = 0
    var unwrittenBytes = 0
    var pendingRead = false
    var processing = false
    var gatheredAnswers: ByteBuffer?
    var frameTimer: Scheduled<Void>?
    var writeStallTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?
    var ageTimer: Scheduled<Void>?
    /// Why new REQUESTs are refused once GOAWAY was sent: shutdown, or the connection's age.
    var goAwayReason = "server is shutting down"
    var lastActivity: UInt64 = 0

    init(core: ServerCore) {
        self.core = core
        decoder = FrameDecoder(maxFrameSize: core.config.maxFrameSize)
    }

    func channelActive(context: ChannelHandlerContext) {
        var preface = context.channel.allocator.buffer(capacity: 8)
        preface.writeBytes(ConnectionPreface.bytes)
        write(context: context, preface)
        switch core.register(context.channel) {
        case .accepted:
            registered = true
        case .refused(let reason):
            return goAway(context: context, status: .resourceExhausted, message: reason, then: .closeNow)
        }
        if core.isDraining {
            return goAway(context: context, status: .unavailable, message: "server is shutting down", then: .closeNow)
        }
        context.flush()
        lastActivity = uptimeNanos()
        startFrameTimer(context: context)
        scheduleIdleCheck(context: context)
        scheduleAgeLimit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        for (_, call) in calls {
            call.timeout?.cancel()
            call.predict?.abandon()
            core.callEnded()
        }
        calls.removeAll()
        requestBytesInFlight = 0
        inbound = ByteBuffer()
        accountBuffered()
        for timer in [frameTimer, writeStallTimer, idleTimer, ageTimer] { timer?.cancel() }
        if registered { core.unregister(context.channel) }
        context.fireChannelInactive()
    }

    // MARK: Reading frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .finishing else { return }
        var bytes = unwrapInboundIn(data)
        inbound.writeBuffer(&bytes)
        processInbound(context: context)
    }

    /// Handles the whole frames buffered, while the peer takes its answers: a peer that does
    /// not read gets no more calls processed, whatever it has sent (back-pressure frame by
    /// frame, not only read by read).
    func processInbound(context: ChannelHandlerContext) {
        // A write completing inside the loop may ask to resume: the loop is already running.
        guard !processing else { return }
        processing = true
        defer { processing = false }
        var progressed = false
        do {
            while phase != .finishing && mayProcess(context: context) {
                let hadPreface = !decoder.awaitsPreface
                guard var frame = try decoder.nextFrame(&inbound) else {
                    progressed = progressed || (!hadPreface && !decoder.awaitsPreface)
                    break
                }
                progressed = true
                // The frame's payload is a slice of `inbound`: once nothing else is buffered,
                // dropping `inbound` lets a large frame's memory go as soon as it is decoded.
                if inbound.readableBytes == 0 { inbound = ByteBuffer() }
                handle(context: context, frame: &frame)
            }
        } catch let violation as ProtocolViolation {
            core.logger.info("protocol violation; closing the connection", metadata: ["reason": "\(violation)"])
            let status: StatusCode = if case .frameTooLarge = violation { .resourceExhausted } else { .invalidArgument }
            goAway(context: context, status: status, message: violation.description, then: .finishCalls)
        } catch {
            core.logger.warning("closing connection after an error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
        writeGatheredAnswers(context: context)
        inboundConsumed(context: context, progressed: progressed)
        accountBuffered()
    }

    private func handle(context: ChannelHandlerContext, frame: inout Frame) {
        switch frame.type {
        case .request:
            request(context: context, frame: &frame)
        case .cancel:
            if let call = calls[frame.streamID] {
                call.predict?.abandon()
                finish(context: context, streamID: frame.streamID, ResponseEnvelope(status: .cancelled, message: "cancelled by the client"))
            }
        case .ping:
            guard frame.payload.readableBytes <= 8 else {
                return goAway(context: context, status: .invalidArgument,
                              message: "a PING carries 8 bytes, not \(frame.payload.readableBytes)", then: .finishCalls)
            }
            write(context: context, Frame(type: .pong, streamID: 0, payload: frame.payload))
        case .pong:
            break
        case .response, .goAway:
            goAway(context: context, status: .invalidArgument, message: "a client does not send \(frame.type) frames", then: .finishCalls)
        }
    }

    private func request(context: ChannelHandlerContext, frame: inout Frame) {
        let arrived = uptimeNanos()
        let id = frame.streamID
        guard id > lastStreamID else {
            return goAway(context: context, status: .invalidArgument,
                          message: "stream id \(id) is not above the previous \(lastStreamID)", then: .finishCalls)
        }
        lastStreamID = id
        lastActivity = arrived
        guard phase == .open && !core.isDraining else {
            let reason = core.isDraining ? "server is shutting down" : goAwayReason
            return respondNow(context: context, streamID: id, .unavailable, "\(reason); call not processed")
        }
        guard calls.count < config.maxConcurrentCallsPerConnection else {
            return respondNow(context: context, streamID: id, .resourceExhausted,
                              "\(calls.count) calls already in flight on this connection; the limit is \(config.maxConcurrentCallsPerConnection)")
        }
        let frameBytes = frame.payload.readableBytes
        let envelope: RequestEnvelope
        do {
            envelope = try RequestEnvelope(protobuf: frame.payload)
        } catch {
            return respondNow(context: context, streamID: id, .invalidArgument, "\(error)")
        }
        frame.payload = ByteBuffer()
        let caller: Caller
        switch core.security.caller(of: envelope) {
        case .success(let known): caller = known
        case .failure(let error):
            return respondNow(context: context, streamID: id, error.code, error.message, method: envelope.method, caller: "unauthenticated")
        }
        let deadline = Deadline.from(timeoutMicros: envelope.timeoutMicros, arrived: arrived)
        if let deadline, uptimeNanos() >= deadline {
            return respondNow(context: context, streamID: id, .deadlineExceeded, "deadline exceeded before the call started",
                              method: envelope.method, caller: caller.name)
        }
        calls[id] = ActiveCall(method: envelope.method, caller: caller.name, started: arrived, requestBytes: frameBytes)
        requestBytesInFlight += frameBytes
        core.callStarted()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let predict = core.dispatch(envelope, caller: caller, deadline: deadline) { response in
            // Answered at once (every method but Predict): written now, so that a client
            // pipelining many quick calls does not see them pile up as calls in flight.
            if bound.eventLoop.inEventLoop {
                bound.value.finish(context: boundContext.value, streamID: id, response)
            } else {
                bound.eventLoop.execute { bound.value.finish(context: boundContext.value, streamID: id, response) }
            }
        }
        if let deadline, calls[id] != nil {
            calls[id]?.predict = predict
            calls[id]?.timeout = context.eventLoop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(deadline)) {
                bound.value.expire(context: boundContext.value, streamID: id)
            }
        } else if calls[id] != nil {
            calls[id]?.predict = predict
        }
    }

    // MARK: Answering

    private func expire(context: ChannelHandlerContext, streamID: UInt32) {
        guard let call = calls[streamID] else { return }
        call.predict?.abandon()
        finish(context: context, streamID: streamID, ResponseEnvelope(status: .deadlineExceeded, message: "deadline exceeded"))
    }

    /// Answers a call that never started.
    private func respondNow(context: ChannelHandlerContext, streamID: UInt32, _ code: StatusCode, _ message: String,
                            method: String = "other", caller: String = "") {
        record(context: context, streamID: streamID, method: method, caller: caller, status: code, seconds: 0)
        write(context: context, Frame(type: .response, streamID: streamID,
                                      payload: ByteBuffer(bytes: ResponseEnvelope(status: code, message: message).protobuf())))
    }

    /// Answers a call in flight, once; later answers for it (a worker finishing after a
    /// cancel) are dropped.
    func finish(context: ChannelHandlerContext, streamID: UInt32, _ response: ResponseEnvelope) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        call.timeout?.cancel()
        requestBytesInFlight -= call.requestBytes
        accountBuffered()
        core.callEnded()
        record(context: context, streamID: streamID, method: call.method, caller: call.caller, status: response.status,
               seconds: Double(uptimeNanos() - call.started) / 1e9)
        write(context: context, Frame(type: .response, streamID: streamID, payload: ByteBuffer(bytes: response.protobuf())))
        if calls.isEmpty {
            lastActivity = uptimeNanos()
            if phase != .open { closeAfterWrites(context: context) }
        }
        resumeReadingIfPossible(context: context)
    }

    /// Metrics, and the access log line, of an answered call.
    private func record(context: ChannelHandlerContext, streamID: UInt32, method: String, caller: String, status: StatusCode, seconds: Double) {
        core.record(CallRecord(method: method, caller: caller, status: status, seconds: seconds,
                               peer: context.channel.remoteAddress?.description ?? "unknown", stream: "\(streamID)", protocolName: "native"))
    }

    func write(context: ChannelHandlerContext, _ frame: Frame) {
        write(context: context, FrameEncoder.encoded(frame, allocator: context.channel.allocator))
    }

    // MARK: GOAWAY and closing

    enum AfterGoAway { case closeNow, finishCalls, keepReading }

    /// GOAWAY, then: close at once; or stop reading and close once the calls in flight are
    /// answered (a violation, a slow peer); or go on reading, answering new REQUESTs
    /// UNAVAILABLE, and close once the calls in flight are answered (drain).
    func goAway(context: ChannelHandlerContext, status: StatusCode, message: String, then after: AfterGoAway) {
        guard phase != .finishing || after == .closeNow else { return }
        if phase == .open || after == .closeNow {
            let payload = GoAway(lastStreamID: lastStreamID, status: status, message: message).protobuf()
            write(context: context, Frame(type: .goAway, streamID: 0, payload: ByteBuffer(bytes: payload)))
        }
        phase = after == .keepReading ? .goingAway : .finishing
        if phase == .finishing {
            inbound.clear()
            frameTimer?.cancel()
        }
        if after == .closeNow || calls.isEmpty { closeAfterWrites(context: context) }
    }

    /// Closes once what was written so far has reached the peer (or the write timeout passes).
    func closeAfterWrites(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        writeGatheredAnswers(context: context)
        let flushed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: flushed)
        flushed.futureResult.whenComplete { _ in context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ServerEvent {
            switch event {
            case .drain:
                goAway(context: context, status: .unavailable, message: "server is shutting down", then: .keepReading)
            case .graceExpired:
                answerEverythingUnprocessed(context: context, because: "server shut down before this call finished (shutdown grace expired)")
            case .bufferRoom:
                resumeReadingIfPossible(context: context)
            }
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The peer half-closed: it sends nothing more but still reads its answers.
            phase = .finishing
            inbound.clear()
            frameTimer?.cancel()
            if calls.isEmpty { closeAfterWrites(context: context) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A grace is over: every call still in flight is answered UNAVAILABLE.
    func answerEverythingUnprocessed(context: ChannelHandlerContext, because reason: String) {
        phase = .finishing
        for id in calls.keys.sorted() {
            calls[id]?.predict?.abandon()
            finish(context: context, streamID: id, ResponseEnvelope(status: .unavailable, message: "\(reason); not processed"))
        }
        closeAfterWrites(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        core.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
