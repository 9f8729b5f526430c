import Foundation

/// A float32 array in NumPy's `.npy` format (version 1 or 2 header, little-endian, C order).
public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw NPYError.cannotRead(path) }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<data>") throws {
        let bytes = [UInt8](data)
        func bad(_ why: String) -> NPYError { .unsupported(path: path, reason: why) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw bad("not an .npy file") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw bad("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default: throw bad("format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .ascii)
        else { throw bad("truncated header") }
        guard header.contains("'descr': '<f4'") else { throw bad("dtype is not little-endian float32 ('<f4'): \(header)") }
        guard header.contains("'fortran_order': False") else { throw bad("Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw bad("no shape in header")
        }
        let shape = try header[open.upperBound..<close].split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else { throw bad("bad shape") }
            return n
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * 4 else {
            throw bad("holds \(bytes.count - dataStart) data bytes; shape \(shape) needs \(count * 4)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { $0.copyBytes(from: bytes[dataStart...]) }
        self.init(shape: shape, values: values)
    }

    public func data() -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    public func write(to path: String) throws {
        try data().write(to: URL(fileURLWithPath: path))
    }
}

public enum NPYError: Error, CustomStringConvertible {
    case cannotRead(String)
    case unsupported(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotRead(let path): "cannot read '\(path)'"
        case .unsupported(let path, let reason): "'\(path)' is not a supported .npy array: \(reason)"
        }
    }
}
