import GRPCCore
import Testing
@testable import TNTGRPC

/// What the gRPC port reads from a request before the native dispatch sees it.
@Suite struct GRPCCodingTests {
    /// The parsed timeout, or -1 for none (plain integers: #expect on optionals trips
    /// AddressSanitizer inside Swift Testing's value capture).
    func micros(_ text: String) -> Int64 { GRPCTimeout.micros(text).map { Int64($0) } ?? -1 }

    @Test func timeoutHeadersInEveryUnit() {
        #expect(micros("1H") == 3_600_000_000)
        #expect(micros("2M") == 120_000_000)
        #expect(micros("3S") == 3_000_000)
        #expect(micros("250m") == 250_000)
        #expect(micros("7u") == 7)
        #expect(micros("1500n") == 1)
        // Below a microsecond is still a deadline (the smallest one), not none.
        #expect(micros("1n") == 1)
        #expect(micros("99999999H") == 99_999_999 * 3_600_000_000)
    }

    @Test func malformedTimeoutsAreNoDeadline() {
        for text in ["", "S", "10", "10s", "123456789S", "-1S", "+5S", "1.5S", " 1S", "１S"] {
            #expect(micros(text) == -1, "\(text)")
        }
    }

    @Test func requestsAboveTheFrameLimitAreResourceExhausted() throws {
        let bytes = ProtobufBytes(maxBytes: 4)
        #expect(try bytes.deserialize([UInt8]([1, 2, 3, 4])) == [1, 2, 3, 4])
        let error = try #require(#expect(throws: RPCError.self) { try bytes.deserialize([UInt8](repeating: 0, count: 5)) })
        #expect(error.code == .resourceExhausted)
        #expect(error.message == "message of 5 bytes is above the maximum of 4")
        #expect(ProtobufBytes.transportLimit(16 << 20) == 32 << 20)
        #expect(ProtobufBytes.transportLimit(.max) == Int(Int32.max))
    }
}
