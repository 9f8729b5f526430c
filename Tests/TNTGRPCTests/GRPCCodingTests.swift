import GRPCCore
import Testing
@testable import TNTGRPC

/// What the gRPC port reads from a request before the native dispatch sees it.
@Suite struct GRPCCodingTests {
    @Test func timeoutHeadersInEveryUnit() {
        #expect(GRPCTimeout.micros("1H") == 3_600_000_000)
        #expect(GRPCTimeout.micros("2M") == 120_000_000)
        #expect(GRPCTimeout.micros("3S") == 3_000_000)
        #expect(GRPCTimeout.micros("250m") == 250_000)
        #expect(GRPCTimeout.micros("7u") == 7)
        #expect(GRPCTimeout.micros("1500n") == 1)
        // Below a microsecond is still a deadline (the smallest one), not none.
        #expect(GRPCTimeout.micros("1n") == 1)
        #expect(GRPCTimeout.micros("99999999H") == 99_999_999 * 3_600_000_000)
    }

    @Test func malformedTimeoutsAreNoDeadline() {
        for text in ["", "S", "10", "10s", "123456789S", "-1S", "+5S", "1.5S", " 1S", "１S"] {
            #expect(GRPCTimeout.micros(text) == nil, "\(text)")
        }
    }

    @Test func requestsAboveTheFrameLimitAreResourceExhausted() throws {
        let bytes = ProtobufBytes(maxBytes: 4)
        #expect(try bytes.deserialize([UInt8]([1, 2, 3, 4])) == [1, 2, 3, 4])
        let error = #expect(throws: RPCError.self) { try bytes.deserialize([UInt8](repeating: 0, count: 5)) }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message == "message of 5 bytes is above the maximum of 4")
        #expect(ProtobufBytes.transportLimit(16 << 20) == 32 << 20)
        #expect(ProtobufBytes.transportLimit(.max) == Int(Int32.max))
    }
}
