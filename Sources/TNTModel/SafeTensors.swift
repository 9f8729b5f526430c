import Foundation

/// A read-only, memory-mapped safetensors file.
///
/// The layout is an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}}`, then the data. Every
/// length and offset is checked against the file before use: a hostile file is an error.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct TensorInfo: Equatable, Sendable {
        public let dtype: String
        public let shape: [Int]
        /// Byte range within the data section.
        public let begin: Int
        public let end: Int
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    /// Size of the whole file in bytes.
    public let fileSize: Int
    private let mapping: UnsafeMutableRawPointer
    private let dataStart: Int

    static let maxHeaderBytes = 100 << 20
    static let maxJSONDepth = 8

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WeightsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw WeightsError.cannotOpen(path: path, reason: "not a regular file") }
        fileSize = Int(st.st_size)
        guard fileSize >= 8 else { throw WeightsError.truncated(path: path, reason: "\(fileSize) bytes, shorter than the 8-byte header length") }
        guard let map = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw WeightsError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        mapping = map
        do {
            let headerLength = UInt64(littleEndian: map.loadUnaligned(as: UInt64.self))
            guard headerLength <= UInt64(Self.maxHeaderBytes) else {
                throw WeightsError.malformedHeader(path: path, reason: "header length \(headerLength) is above \(Self.maxHeaderBytes)")
            }
            guard 8 + Int(headerLength) <= fileSize else {
                throw WeightsError.truncated(path: path, reason: "header of \(headerLength) bytes runs past the end of a \(fileSize)-byte file")
            }
            dataStart = 8 + Int(headerLength)
            let header = Data(bytes: map + 8, count: Int(headerLength))
            (tensors, metadata) = try Self.parseHeader(header, path: path, dataSize: fileSize - dataStart)
        } catch {
            munmap(map, fileSize)
            throw error
        }
    }

    deinit { munmap(mapping, fileSize) }

    var mappedBytes: UnsafeRawPointer { UnsafeRawPointer(mapping) }

    /// The bytes of a tensor, valid as long as this file object lives.
    public func bytes(of info: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping + dataStart + info.begin, count: info.end - info.begin)
    }

    /// The tensors and metadata a header describes, every entry checked against `dataSize`
    /// bytes of data; `path` names the file in errors.
    public static func parseHeader(_ header: Data, path: String, dataSize: Int) throws -> ([String: TensorInfo], [String: String]) {
        func bad(_ reason: String) -> WeightsError { .malformedHeader(path: path, reason: reason) }
        // JSONSerialization recurses per nesting level: bound the depth before parsing.
        var depth = 0
        for byte in header {
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
            if depth > maxJSONDepth { throw bad("JSON nested deeper than \(maxJSONDepth) levels") }
        }
        guard let root = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard let entries = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (key, value) in entries { metadata[key] = value as? String }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [Any],
                  let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2
            else { throw bad("tensor '\(name)' lacks dtype, shape or data_offsets") }
            let shape = try shapeValues.map { value -> Int in
                guard let n = exactInt(value), n >= 0, n <= Int(Int32.max) else { throw bad("tensor '\(name)' has a bad shape") }
                return n
            }
            guard let begin = exactInt(offsetValues[0]), let end = exactInt(offsetValues[1]),
                  0 <= begin, begin <= end, end <= dataSize
            else {
                throw WeightsError.truncated(path: path, reason: "tensor '\(name)' has data offsets \(offsetValues) outside the \(dataSize)-byte data section")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        return (tensors, metadata)
    }

    private static func exactInt(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 9.0e15 else { return nil }
        return Int(double)
    }
}

/// Why a weights file cannot be used; each case names the file or the tensor.
public enum WeightsError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case truncated(path: String, reason: String)
    case malformedHeader(path: String, reason: String)
    case missingTensor(name: String, expectedShape: [Int])
    case unexpectedTensor(name: String)
    case wrongDType(name: String, dtype: String)
    case wrongShape(name: String, expected: [Int], actual: [Int])
    case wrongByteCount(name: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open weights '\(path)': \(reason)"
        case .truncated(let path, let reason): "weights '\(path)' are truncated: \(reason)"
        case .malformedHeader(let path, let reason): "weights '\(path)' have a malformed safetensors header: \(reason)"
        case .missingTensor(let name, let shape): "tensor '\(name)' (shape \(shape)) is missing from the weights"
        case .unexpectedTensor(let name): "tensor '\(name)' is not a parameter of this architecture"
        case .wrongDType(let name, let dtype): "tensor '\(name)' has dtype \(dtype); expected F32"
        case .wrongShape(let name, let expected, let actual): "tensor '\(name)' has shape \(actual); the config needs \(expected)"
        case .wrongByteCount(let name, let expected, let actual): "tensor '\(name)' spans \(actual) bytes; its shape needs \(expected)"
        }
    }
}
