import Logging
import NIOCore
import TNTProtocol

/// What a connection may cost the server, and how long it may take: back-pressure on reads,
/// the bound on unread answers, and the frame, write and idle timers.
extension ConnectionHandler {
    // MARK: Back-pressure

    /// The channel asks to read (autoRead); the read waits while the connection is at its
    /// buffer limit or the socket does not take answers.
    func read(context: ChannelHandlerContext) {
        if mayRead(context: context) {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// Whether the next buffered frame may be handled: its answer would have somewhere to go.
    func mayProcess(context: ChannelHandlerContext) -> Bool {
        context.channel.isWritable && unwrittenBytes < config.maxConnectionBufferBytes
    }

    /// What this connection holds in the server: frames not yet handled, requests in flight
    /// and answers not yet taken by the peer.
    private var heldBytes: Int { inbound.readableBytes + requestBytesInFlight + unwrittenBytes }

    private func mayRead(context: ChannelHandlerContext) -> Bool {
        guard phase != .finishing && context.channel.isWritable && heldBytes < config.maxConnectionBufferBytes else { return false }
        guard core.hasBufferRoom else {
            core.waitForBufferRoom(context.channel)
            return false
        }
        return true
    }

    func resumeReadingIfPossible(context: ChannelHandlerContext) {
        if inbound.readableBytes > 0 && phase != .finishing && mayProcess(context: context) {
            processInbound(context: context)
        }
        if pendingRead && mayRead(context: context) {
            pendingRead = false
            context.read()
        }
    }

    /// Reports what this connection holds to the server-wide budget.
    func accountBuffered() {
        let holding = heldBytes
        core.adjustBuffered(by: holding - accountedBytes)
        accountedBytes = holding
    }

    private func closeNonReader(context: ChannelHandlerContext, _ why: Logger.Metadata) {
        core.logger.info("closing a connection whose peer does not read its answers", metadata: why)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            writeStallTimer?.cancel()
            writeStallTimer = nil
            resumeReadingIfPossible(context: context)
        } else if writeStallTimer == nil {
            let seconds = config.writeTimeoutSeconds
            writeStallTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) { [self] in
                closeNonReader(context: context, ["after_s": "\(seconds)", "unwritten_bytes": "\(unwrittenBytes)"])
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Writes and flushes `bytes`, counting them until the socket has taken them. A peer
    /// whose unread answers pass the connection's buffer limit is not reading: it is closed.
    /// Answers given while buffered frames are handled (quick calls, refusals) are gathered and
    /// written together when the loop ends: one write and one flush (and under TLS one record)
    /// for many small answers instead of one each.
    func write(context: ChannelHandlerContext, _ bytes: ByteBuffer) {
        let count = bytes.readableBytes
        unwrittenBytes += count
        if processing {
            if gatheredAnswers == nil {
                gatheredAnswers = bytes
            } else {
                var more = bytes
                gatheredAnswers!.writeBuffer(&more)
            }
            return
        }
        send(context: context, bytes, counted: count)
    }

    /// Writes the answers gathered while handling frames.
    func writeGatheredAnswers(context: ChannelHandlerContext) {
        guard let answers = gatheredAnswers else { return }
        gatheredAnswers = nil
        send(context: context, answers, counted: answers.readableBytes)
    }

    private func send(context: ChannelHandlerContext, _ bytes: ByteBuffer, counted count: Int) {
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [self] _ in
            unwrittenBytes -= count
            accountBuffered()
            resumeReadingIfPossible(context: context)
        }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: written)
        if unwrittenBytes > config.maxConnectionBufferBytes && context.channel.isActive {
            closeNonReader(context: context, ["unwritten_bytes": "\(unwrittenBytes)", "limit": "\(config.maxConnectionBufferBytes)"])
        }
    }

    // MARK: Slow peers

    /// After buffered frames were handled: a frame left incomplete must finish within the
    /// frame timeout, counted from the first byte of it that arrived (a completed frame
    /// restarts the clock). Whole frames left unhandled because the peer does not read its
    /// answers are the write timeout's business instead.
    func inboundConsumed(context: ChannelHandlerContext, progressed: Bool) {
        if !mayProcess(context: context) && inbound.readableBytes > 0 {
            frameTimer?.cancel()
            frameTimer = nil
            return
        }
        if inbound.readableBytes == 0 {
            inbound.clear()
            if !decoder.awaitsPreface {
                frameTimer?.cancel()
                frameTimer = nil
            }
        } else {
            inbound.discardReadBytes()
            // Room for the whole frame at once, rather than doubling (and copying) as it comes.
            if !decoder.awaitsPreface, let length = inbound.getInteger(at: inbound.readerIndex, as: UInt32.self) {
                inbound.reserveCapacity(minimumWritableBytes: Frame.headerSize + Int(length) - inbound.readableBytes)
            }
            if progressed || frameTimer == nil { startFrameTimer(context: context) }
        }
    }

    func startFrameTimer(context: ChannelHandlerContext) {
        frameTimer?.cancel()
        let seconds = config.frameTimeoutSeconds
        frameTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) { [self] in
            frameTimer = nil
            let what = decoder.awaitsPreface ? "the preface" : "a frame"
            core.logger.info("closing a connection too slow to send \(what)", metadata: ["frame_timeout_s": "\(seconds)"])
            goAway(context: context, status: .deadlineExceeded,
                   message: "\(what) did not arrive whole within \(seconds) s", then: .finishCalls)
        }
    }

    // MARK: Idle

    /// GOAWAY OK once no call has been in flight and no REQUEST arrived for the idle timeout.
    func scheduleIdleCheck(context: ChannelHandlerContext) {
        let timeout = UInt64(config.idleTimeoutSeconds) * 1_000_000_000
        idleTimer = context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(lastActivity + timeout)) { [self] in
            if phase == .open && calls.isEmpty && uptimeNanos() >= lastActivity + timeout {
                goAway(context: context, status: .ok, message: "idle for \(config.idleTimeoutSeconds) s", then: .closeNow)
            } else if phase == .open {
                lastActivity = max(lastActivity, uptimeNanos() - timeout / 2)
                scheduleIdleCheck(context: context)
            }
        }
    }
}

extension ConnectionHandler {
    // MARK: Connection age

    /// `--max-connection-age`, ±10%: GOAWAY OK, the calls in flight get the age grace to
    /// finish, then the connection closes and its client reconnects, perhaps to another
    /// replica. The jitter keeps a fleet's connections from all ending at once.
    func scheduleAgeLimit(context: ChannelHandlerContext) {
        guard config.maxConnectionAgeSeconds > 0 else { return }
        let age = Double(config.maxConnectionAgeSeconds) * Double.random(in: 0.9...1.1)
        ageTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(age * 1e9))) { [self] in
            guard phase == .open else { return }
            goAwayReason = "max connection age (\(config.maxConnectionAgeSeconds) s) reached; reconnect"
            goAway(context: context, status: .ok, message: goAwayReason, then: .keepReading)
            ageTimer = context.eventLoop.scheduleTask(in: .seconds(Int64(config.maxConnectionAgeGraceSeconds))) { [self] in
                answerEverythingUnprocessed(context: context, because: "its connection reached its maximum age and the age grace expired")
            }
        }
    }
}

/// A call's deadline: `timeout_us` after its REQUEST frame was read. Timeouts above
/// `maxTimeoutMicros` (about 11.6 days) are cut to it, so that no value can overflow.
enum Deadline {
    static let maxTimeoutMicros: UInt64 = 1_000_000_000_000

    /// Uptime in nanoseconds, or nil for no deadline (`timeout_us` 0).
    static func from(timeoutMicros: UInt64, arrived: UInt64) -> UInt64? {
        guard timeoutMicros > 0 else { return nil }
        return arrived + min(timeoutMicros, maxTimeoutMicros) * 1000
    }
}
