import CProtobufC

/// What protobuf-c accepts but a server must not: a `string` field holding a NUL byte (C
/// strings would silently end there: `"digits\0junk"` would name `digits`) or bytes that are
/// not UTF-8 (proto3 requires it). Walks the wire format with the message's descriptor,
/// into nested messages; anything malformed is left to protobuf-c to refuse.
enum WireCheck {
    static let maxDepth = 32

    /// Why `bytes` must be refused, or nil.
    static func problem(in bytes: UnsafeRawBufferPointer, _ descriptor: ProtobufCMessageDescriptor, depth: Int = 0) -> String? {
        guard depth < maxDepth else { return nil }
        var reader = Reader(bytes: bytes)
        while !reader.atEnd {
            guard let tag = reader.varint() else { return nil }
            let number = UInt32(truncatingIfNeeded: tag >> 3)
            switch tag & 7 {
            case 0: guard reader.varint() != nil else { return nil }
            case 1: guard reader.skip(8) else { return nil }
            case 5: guard reader.skip(4) else { return nil }
            case 2:
                guard let length = reader.varint(), let value = reader.take(length) else { return nil }
                guard let field = field(number, in: descriptor) else { continue }
                switch field.type {
                case PROTOBUF_C_TYPE_STRING:
                    let name = String(cString: field.name)
                    if value.contains(0) { return "field '\(name)' of \(String(cString: descriptor.name)) holds a NUL byte" }
                    if String(validating: value, as: UTF8.self) == nil {
                        return "field '\(name)' of \(String(cString: descriptor.name)) is not valid UTF-8"
                    }
                case PROTOBUF_C_TYPE_MESSAGE:
                    let nested = field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self).pointee
                    if let problem = problem(in: value, nested, depth: depth + 1) { return problem }
                default:
                    continue
                }
            default:
                return nil
            }
        }
        return nil
    }

    private static func field(_ number: UInt32, in descriptor: ProtobufCMessageDescriptor) -> ProtobufCFieldDescriptor? {
        for i in 0..<Int(descriptor.n_fields) where descriptor.fields[i].id == number { return descriptor.fields[i] }
        return nil
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var atEnd: Bool { offset >= bytes.count }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard offset < bytes.count else { return nil }
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
            }
            return nil
        }

        mutating func skip(_ count: Int) -> Bool {
            guard count <= bytes.count - offset else { return false }
            offset += count
            return true
        }

        mutating func take(_ length: UInt64) -> UnsafeRawBufferPointer? {
            guard length <= UInt64(bytes.count - offset) else { return nil }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
            offset += Int(length)
            return slice
        }
    }
}
