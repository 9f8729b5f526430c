import Foundation
import Testing
@testable import TNTModel

/// Every way a weights file can be wrong is a typed error that names the file or tensor.
@Suite struct WeightsErrorTests {
    let tiny = try! ReferenceFixture.bundled("tiny-sharp")

    func tensors() throws -> [SafeTensorsWriter.Tensor] {
        let file = try SafeTensorsFile(path: tiny.weightsPath)
        return file.tensors.keys.sorted().map { name in
            let info = file.tensors[name]!
            let bytes = file.bytes(of: info)
            return .init(name: name, shape: info.shape, values: Array(bytes.bindMemory(to: Float.self)))
        }
    }

    func load(_ tensors: [SafeTensorsWriter.Tensor], dtype: String = "F32") throws -> TNTWeights {
        let dir = try TemporaryDirectory()
        try SafeTensorsWriter.data(tensors, dtype: dtype).write(to: URL(fileURLWithPath: dir.file("w.safetensors")))
        return try TNTWeights(config: tiny.config, path: dir.file("w.safetensors"))
    }

    @Test func rewrittenFileLoads() throws {
        let weights = try load(try tensors())
        #expect(weights.parameterCount == TNTWeights.parameterShapes(tiny.config).values.reduce(0) { $0 + $1.reduce(1, *) })
    }

    @Test func missingFile() {
        #expect(throws: WeightsError.self) { try TNTWeights(config: tiny.config, path: "/nonexistent/w.safetensors") }
        do { _ = try TNTWeights(config: tiny.config, path: "/nonexistent/w.safetensors") } catch {
            #expect("\(error)".contains("/nonexistent/w.safetensors"))
        }
    }

    @Test func truncatedFiles() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: tiny.weightsPath))
        let dir = try TemporaryDirectory()
        for length in [0, 5, 8, 100, data.count / 2, data.count - 1] {
            let path = dir.file("t\(length).safetensors")
            try data.prefix(length).write(to: URL(fileURLWithPath: path))
            #expect {
                try TNTWeights(config: tiny.config, path: path)
            } throws: { error in
                guard case WeightsError.truncated = error else { return false }
                return "\(error)".contains(path)
            }
        }
    }

    @Test func wrongDType() throws {
        #expect(throws: WeightsError.wrongDType(name: "blocks.0.attn_in.proj.bias", dtype: "F16")) {
            try load(try tensors(), dtype: "F16")
        }
    }

    @Test func missingTensor() throws {
        let kept = try tensors().filter { $0.name != "blocks.1.mlp.fc2.weight" }
        #expect(throws: WeightsError.missingTensor(name: "blocks.1.mlp.fc2.weight", expectedShape: [256, 128])) {
            try load(kept)
        }
    }

    @Test func unexpectedTensor() throws {
        let extra = try tensors() + [.init(name: "blocks.2.norm_in.weight", shape: [8], values: .init(repeating: 1, count: 8))]
        #expect(throws: WeightsError.unexpectedTensor(name: "blocks.2.norm_in.weight")) { try load(extra) }
    }

    @Test func misShapedTensor() throws {
        let reshaped = try tensors().map { t in
            t.name == "head.weight" ? SafeTensorsWriter.Tensor(name: t.name, shape: [10, 128], values: t.values) : t
        }
        #expect(throws: WeightsError.wrongShape(name: "head.weight", expected: [128, 10], actual: [10, 128])) {
            try load(reshaped)
        }
    }

    @Test func configMismatch() throws {
        var other = tiny.config
        other.classNum = 1000
        #expect(throws: WeightsError.wrongShape(name: "head.bias", expected: [1000], actual: [10])) {
            try TNTWeights(config: other, path: tiny.weightsPath)
        }
        #expect(throws: WeightsError.self) { try TNTWeights(config: .tntSmall, path: tiny.weightsPath) }
    }

    @Test func hostileHeaders() throws {
        let dir = try TemporaryDirectory()
        func file(header: String, length: UInt64? = nil, data: Int = 0) throws -> String {
            let path = dir.file("h\(header.hashValue).safetensors")
            var bytes = Data()
            withUnsafeBytes(of: (length ?? UInt64(header.utf8.count)).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: Array(header.utf8))
            bytes.append(Data(count: data))
            try bytes.write(to: URL(fileURLWithPath: path))
            return path
        }
        let cases: [(String, UInt64?)] = [
            ("{", nil),                                   // not JSON
            ("[1,2,3]", nil),                             // not an object
            (String(repeating: "[", count: 100_000), nil), // nesting bomb
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", nil),  // past the data
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", nil),  // reversed
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,0]}}", nil), // negative dim
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", nil),
            ("{\"a\":{\"dtype\":\"F32\"}}", nil),         // fields missing
            ("{}", UInt64.max),                           // length overflows
            ("{}", 1 << 40),                              // length past the file
        ]
        for (header, length) in cases {
            let path = try file(header: header, length: length)
            #expect(throws: WeightsError.self, "header \(header.prefix(40))") { try SafeTensorsFile(path: path) }
        }
    }
}
