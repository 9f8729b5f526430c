import NIOCore

/// Why a byte stream is not a TNTServe connection; the connection cannot continue.
public enum ProtocolViolation: Error, Equatable, CustomStringConvertible {
    case badPreface([UInt8])
    case unsupportedVersion(UInt8)
    case frameTooLarge(length: Int, limit: Int)
    case unknownFrameType(UInt8)

    public var description: String {
        switch self {
        // A TLS record starts 0x16 0x03: a TLS client on a plaintext port.
        case .badPreface(let bytes) where bytes.starts(with: [0x16, 0x03]):
            "a TLS handshake on a plaintext port: the peer speaks TLS, this port does not"
        case .badPreface(let bytes): "not a TNTServe peer: preface \(bytes.map { String($0, radix: 16) }.joined(separator: " "))"
        case .unsupportedVersion(let v): "protocol version \(v) is not supported (this side speaks \(ConnectionPreface.version))"
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes is above the maximum of \(limit)"
        case .unknownFrameType(let type): "unknown frame type 0x\(String(type, radix: 16))"
        }
    }
}

/// Bytes → frames. The preface is checked first; then a frame is produced only when all of it
/// has arrived, and its announced length is checked against `maxFrameSize` before anything
/// is buffered for it.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let maxFrameSize: Int
    private var expectPreface: Bool

    /// - Parameter expectPreface: whether the peer's 8-byte preface comes before the frames.
    public init(maxFrameSize: Int, expectPreface: Bool = true) {
        self.maxFrameSize = maxFrameSize
        self.expectPreface = expectPreface
    }

    /// Whether the peer's preface has not been read yet.
    public var awaitsPreface: Bool { expectPreface }

    /// The next whole frame at the front of `buffer`, consumed; nil when more bytes are needed.
    public mutating func nextFrame(_ buffer: inout ByteBuffer) throws -> Frame? {
        if expectPreface {
            guard let preface = buffer.getBytes(at: buffer.readerIndex, length: 8) else {
                // Fail fast on a wrong peer: the bytes that have arrived must already match.
                let partial = buffer.readableBytesView.prefix(6)
                if !partial.elementsEqual(ConnectionPreface.magic.prefix(partial.count)) {
                    throw ProtocolViolation.badPreface(Array(partial))
                }
                return nil
            }
            guard Array(preface.prefix(6)) == ConnectionPreface.magic else { throw ProtocolViolation.badPreface(preface) }
            guard preface[6] == ConnectionPreface.version else { throw ProtocolViolation.unsupportedVersion(preface[6]) }
            buffer.moveReaderIndex(forwardBy: 8)
            expectPreface = false
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard Int(length) <= maxFrameSize else { throw ProtocolViolation.frameTooLarge(length: Int(length), limit: maxFrameSize) }
        // The type is checked as soon as the header is in, not after a large payload.
        guard let rawType = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self) else { return nil }
        guard let type = FrameType(rawValue: rawType) else { throw ProtocolViolation.unknownFrameType(rawType) }
        guard buffer.readableBytes >= Frame.headerSize + Int(length) else { return nil }
        let flags = buffer.getInteger(at: buffer.readerIndex + 5, as: UInt8.self)!
        let streamID = buffer.getInteger(at: buffer.readerIndex + 8, as: UInt32.self)!
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return Frame(type: type, flags: flags, streamID: streamID, payload: payload)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Frames → bytes. The connection handlers write frames themselves (the server writes its
/// preface as raw bytes on the same channel), so this is a namespace, not a pipeline handler.
public enum FrameEncoder {
    /// The frame as bytes in a new buffer from `allocator`.
    public static func encoded(_ frame: Frame, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Frame.headerSize + frame.payload.readableBytes)
        write(frame, to: &buffer)
        return buffer
    }

    public static func write(_ frame: Frame, to out: inout ByteBuffer) {
        out.writeInteger(UInt32(frame.payload.readableBytes))
        out.writeInteger(frame.type.rawValue)
        out.writeInteger(frame.flags)
        out.writeInteger(UInt16(0))
        out.writeInteger(frame.streamID)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}
