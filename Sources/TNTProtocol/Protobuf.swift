import CProtobufC
import CTNTProto
import Glibc

/// A message that converts to and from protobuf bytes through protobuf-c.
public protocol ProtobufMessage: Sendable {
    init(protobuf bytes: [UInt8]) throws
    func protobuf() -> [UInt8]
}

/// A message that protobuf-c could not parse; the caller answers INVALID_ARGUMENT.
public struct MalformedMessage: Error, Equatable, CustomStringConvertible {
    public let type: String
    public let byteCount: Int
    public var description: String { "malformed \(type) message (\(byteCount) bytes)" }
}

/// protobuf-c trusts its input more than a server should, and 1.4.1 leaves some fields of
/// some unpack paths uninitialised (protobuf-c #690, #745, #796): every allocation it makes
/// is zeroed.
nonisolated(unsafe) var zeroingAllocator = ProtobufCAllocator(
    alloc: { _, size in calloc(1, size) },
    free: { _, pointer in free(pointer) },
    allocator_data: nil
)

/// Unpacks `bytes` with `unpack`, hands the C message to `body`, frees it.
func unpacked<T, R>(
    _ bytes: [UInt8], _ type: String,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?,
    free: (UnsafeMutablePointer<T>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    _ body: (T) throws -> R
) throws -> R {
    let message = bytes.withUnsafeBufferPointer { buffer -> UnsafeMutablePointer<T>? in
        withUnsafeMutablePointer(to: &zeroingAllocator) { allocator in
            // An empty message is valid protobuf; protobuf-c wants a non-null pointer for it.
            var empty: UInt8 = 0
            return buffer.count == 0
                ? unpack(allocator, 0, &empty)
                : unpack(allocator, buffer.count, buffer.baseAddress)
        }
    }
    guard let message else { throw MalformedMessage(type: type, byteCount: bytes.count) }
    defer { withUnsafeMutablePointer(to: &zeroingAllocator) { free(message, $0) } }
    return try body(message.pointee)
}

/// Packs a C message built by `build` (whose C memory lives in `arena` until packing ends).
func packed<T>(
    _ build: (CArena) -> UnsafeMutablePointer<T>,
    size: (UnsafePointer<T>?) -> Int,
    pack: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?) -> Int
) -> [UInt8] {
    let arena = CArena()
    let message = build(arena)
    var out = [UInt8](repeating: 0, count: size(message))
    out.withUnsafeMutableBufferPointer { _ = pack(message, $0.baseAddress) }
    withExtendedLifetime(arena) {}
    return out
}

/// Owns the C memory of messages being built; frees it all when released.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { for pointer in allocations { free(pointer) } }

    func new<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let pointer = strdup(text)!
        allocations.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = new(T.self, count: values.count)
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    func bytes(_ values: [UInt8]) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: values.count, data: array(values))
    }

    /// An array of pointers to C messages, one per element of `values`.
    func messages<S, T>(_ values: [S], _ build: (S) -> UnsafeMutablePointer<T>) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        array(values.map { Optional(build($0)) })
    }
}

func swiftString(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }

func swiftArray<T>(_ pointer: UnsafePointer<T>?, _ count: Int) -> [T] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

func swiftArray<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
    swiftArray(UnsafePointer(pointer), count)
}

func swiftBytes(_ data: ProtobufCBinaryData) -> [UInt8] { swiftArray(data.data, data.len) }

func swiftMessages<T, R>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int, _ convert: (T) throws -> R) rethrows -> [R] {
    try swiftArray(pointer, count).compactMap { try $0.map { try convert($0.pointee) } }
}
