import CProtobufC
import CTNTProto
import Glibc

/// A message that converts to and from protobuf bytes through protobuf-c.
public protocol ProtobufMessage: Sendable {
    init(protobuf bytes: [UInt8]) throws
    func protobuf() -> [UInt8]
}

/// A message that could not be parsed, or that a server must not accept; the caller answers
/// INVALID_ARGUMENT.
public struct MalformedMessage: Error, Equatable, CustomStringConvertible {
    public let type: String
    public let byteCount: Int
    public var reason: String? = nil

    public var description: String {
        "malformed \(type) message (\(byteCount) bytes)" + (reason.map { ": \($0)" } ?? "")
    }
}

/// What decoding one message may allocate: a message whose decode would take more is refused
/// (repeated empty entries cost protobuf-c far more memory than wire bytes).
public enum DecodeAllocationBudget {
    public static func bytes(forMessageOf size: Int) -> Int { 64 << 10 + 2 * size }
}

/// protobuf-c trusts its input more than a server should, and 1.4.1 leaves some fields of
/// some unpack paths uninitialised (protobuf-c #690, #745, #796): every allocation it makes
/// is zeroed, and counted against the message's `DecodeAllocationBudget`.
private func budgetedAllocator(_ remaining: UnsafeMutablePointer<Int>) -> ProtobufCAllocator {
    ProtobufCAllocator(
        alloc: { data, size in
            let remaining = data!.assumingMemoryBound(to: Int.self)
            guard size <= remaining.pointee else {
                remaining.pointee = -1
                return nil
            }
            remaining.pointee -= size
            return calloc(1, size)
        },
        free: { _, pointer in free(pointer) },
        allocator_data: UnsafeMutableRawPointer(remaining)
    )
}

/// Unpacks `bytes` with `unpack`, hands the C message to `body`, frees it. The bytes are
/// checked first (`WireCheck`) for what protobuf-c accepts but a server must not.
func unpacked<T, R>(
    _ bytes: [UInt8], _ type: String, descriptor: ProtobufCMessageDescriptor,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?,
    free: (UnsafeMutablePointer<T>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    _ body: (T) throws -> R
) throws -> R {
    try bytes.withUnsafeBytes { try unpacked($0, type, descriptor: descriptor, unpack: unpack, free: free, body) }
}

func unpacked<T, R>(
    _ bytes: UnsafeRawBufferPointer, _ type: String, descriptor: ProtobufCMessageDescriptor,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?,
    free: (UnsafeMutablePointer<T>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    _ body: (T) throws -> R
) throws -> R {
    if let problem = WireCheck.problem(in: bytes, descriptor) {
        throw MalformedMessage(type: type, byteCount: bytes.count, reason: problem)
    }
    let remaining = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    defer { remaining.deallocate() }
    remaining.pointee = DecodeAllocationBudget.bytes(forMessageOf: bytes.count)
    var allocator = budgetedAllocator(remaining)
    // An empty message is valid protobuf; protobuf-c wants a non-null pointer for it.
    var empty: UInt8 = 0
    let message = bytes.isEmpty
        ? unpack(&allocator, 0, &empty)
        : unpack(&allocator, bytes.count, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
    guard let message else {
        let reason = remaining.pointee < 0
            ? "decoding it would need more than \(DecodeAllocationBudget.bytes(forMessageOf: bytes.count)) bytes of memory (2x its size + 64 KiB)"
            : nil
        throw MalformedMessage(type: type, byteCount: bytes.count, reason: reason)
    }
    defer { free(message, &allocator) }
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
