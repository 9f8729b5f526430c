import NIOCore

/// The kinds of frame on a TNTServe connection (docs/PROTOCOL.md, "Frames").
public enum FrameType: UInt8, Sendable {
    /// Client → server: a call, carrying a `RequestEnvelope`.
    case request = 0x01
    /// Server → client: the one answer to a call, carrying a `ResponseEnvelope`.
    case response = 0x02
    /// Client → server: cancel the call on this stream; empty payload.
    case cancel = 0x03
    /// Either way: 8 opaque bytes to be echoed in a PONG.
    case ping = 0x04
    case pong = 0x05
    /// Server → client: no new calls; carries a `GoAway`.
    case goAway = 0x06
}

/// One frame: a 12-byte header (length, type, flags, reserved, stream id) and a payload.
public struct Frame: Sendable, Equatable {
    public static let headerSize = 12

    public var type: FrameType
    public var flags: UInt8
    public var streamID: UInt32
    public var payload: ByteBuffer

    public init(type: FrameType, flags: UInt8 = 0, streamID: UInt32, payload: ByteBuffer = ByteBuffer()) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.payload = payload
    }
}

/// The 8 bytes each side sends first: "TNTRPC", the major version, a reserved zero byte.
public enum ConnectionPreface {
    public static let magic: [UInt8] = Array("TNTRPC".utf8)
    public static let version: UInt8 = 1
    public static var bytes: [UInt8] { magic + [version, 0] }
}
