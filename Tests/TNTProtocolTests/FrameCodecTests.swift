import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import TNTProtocol

@Suite struct FrameCodecTests {
    func encoded(_ frames: [Frame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { FrameEncoder.write(frame, to: &buffer) }
        return buffer
    }

    let frames = [
        Frame(type: .request, streamID: 1, payload: ByteBuffer(bytes: [1, 2, 3])),
        Frame(type: .ping, streamID: 0, payload: ByteBuffer(bytes: Array(repeating: 9, count: 8))),
        Frame(type: .cancel, streamID: 7),
        Frame(type: .response, flags: 2, streamID: 0xFFFF_FFFF, payload: ByteBuffer(bytes: Array(0..<200))),
    ]

    /// NIO's verifier feeds the bytes whole, byte by byte and split at every position.
    @Test func decodesWhateverTheSplit() throws {
        let inputs = frames.map { (encoded([$0]), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: inputs) {
            FrameDecoder(maxFrameSize: 1024, expectPreface: false)
        }
    }

    @Test func prefaceThenFramesInEveryChunking() throws {
        var all = ByteBuffer(bytes: ConnectionPreface.bytes)
        var frameBytes = encoded(frames)
        all.writeBuffer(&frameBytes)
        let bytes = Array(all.readableBytesView)
        for chunk in [1, 2, 3, 7, 11, bytes.count] {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 1024)))
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + chunk, bytes.count)]))
            }
            var decoded: [Frame] = []
            while let frame = try channel.readInbound(as: Frame.self) { decoded.append(frame) }
            #expect(decoded == frames, "chunks of \(chunk)")
            _ = try channel.finish()
        }
    }

    @Test func oversizedLengthIsRefusedBeforeItsBytesArrive() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 100, expectPreface: false)))
        var header = ByteBuffer()
        header.writeInteger(UInt32(101))
        header.writeInteger(FrameType.request.rawValue)
        #expect(throws: ProtocolViolation.frameTooLarge(length: 101, limit: 100)) { try channel.writeInbound(header) }
        _ = try? channel.finish()
    }

    @Test func wrongPeersFailFast() throws {
        for (bytes, expected) in [
            (Array("GET ".utf8), ProtocolViolation.badPreface(Array("GET ".utf8))),
            (Array("TNTRPC".utf8) + [9, 0], ProtocolViolation.unsupportedVersion(9)),
        ] {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 100)))
            #expect(throws: expected) { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
            _ = try? channel.finish()
        }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 100, expectPreface: false)))
        #expect(throws: ProtocolViolation.unknownFrameType(0x42)) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0, 0x42, 0, 0, 0, 0, 0, 0, 1]))
        }
        _ = try? channel.finish()
    }
}
