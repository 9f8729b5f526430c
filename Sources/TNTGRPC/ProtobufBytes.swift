import GRPCCore

/// A message as its protobuf bytes. The gRPC services hand these to the same protobuf-c
/// decoding and dispatch as the native port, so both paths parse, check and refuse a message
/// with the same code and the same words.
struct ProtobufBytes: MessageSerializer, MessageDeserializer {
    /// `--max-frame-bytes`. A larger request is RESOURCE_EXHAUSTED, as an oversized native frame
    /// is; the transport itself is given twice this, because it resets the stream (CANCELLED,
    /// with no status) when its own limit is crossed.
    let maxBytes: Int

    static func transportLimit(_ maxBytes: Int) -> Int { maxBytes > Int(Int32.max) / 2 ? Int(Int32.max) : 2 * maxBytes }

    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        guard serializedMessageBytes.count <= maxBytes else {
            throw RPCError(code: .resourceExhausted, message: "message of \(serializedMessageBytes.count) bytes is above the maximum of \(maxBytes)")
        }
        return serializedMessageBytes.withUnsafeBytes { [UInt8]($0) }
    }
}

/// The `grpc-timeout` request header: an ASCII integer of at most 8 digits and a unit
/// (H, M, S, m, u, n), as the gRPC over HTTP/2 specification defines it.
enum GRPCTimeout {
    /// The timeout in microseconds (at least 1), or nil when the header is absent or malformed.
    static func micros(_ text: String) -> UInt64? {
        let digits = text.dropLast()
        guard let unit = text.last, (1...8).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let amount = UInt64(digits) else { return nil }
        let microsPerUnit: UInt64
        switch unit {
        case "H": microsPerUnit = 3_600_000_000
        case "M": microsPerUnit = 60_000_000
        case "S": microsPerUnit = 1_000_000
        case "m": microsPerUnit = 1_000
        case "u": microsPerUnit = 1
        case "n": return max(1, amount / 1_000)
        default: return nil
        }
        return max(1, amount * microsPerUnit)  // at most 99,999,999 hours: no overflow
    }
}
