import Foundation

/// Writes float32 tensors as a safetensors file (header padded to 8 bytes, as the
/// reference implementation does). Used for random weights and by tests.
public enum SafeTensorsWriter {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func data(_ tensors: [Tensor], dtype: String = "F32") -> Data {
        var entries: [String] = []
        var offset = 0
        for t in tensors {
            let end = offset + t.values.count * 4
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\"\(t.name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var data = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for t in tensors { t.values.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    public static func write(_ tensors: [Tensor], to path: String) throws {
        try data(tensors).write(to: URL(fileURLWithPath: path))
    }

    /// Random parameters with PaddleClas's initialisation: N(0, 0.02) weights and
    /// embeddings, zero biases, unit LayerNorm scales.
    public static func randomWeights(config: TNTConfig, seed: UInt64) -> [Tensor] {
        var rng = SplitMix64(seed: seed)
        return TNTWeights.parameterShapes(config).sorted { $0.key < $1.key }.map { name, shape in
            let count = shape.reduce(1, *)
            let isNorm = name.hasPrefix("norm") || name.contains(".norm")
            let values: [Float]
            if name.hasSuffix(".bias") {
                values = [Float](repeating: 0, count: count)
            } else if isNorm {
                values = [Float](repeating: 1, count: count)
            } else {
                values = (0..<count).map { _ in rng.nextNormal() * 0.02 }
            }
            return Tensor(name: name, shape: shape, values: values)
        }
    }
}

/// A small, seedable generator for reproducible test data and random weights.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
