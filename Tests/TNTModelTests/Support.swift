import Foundation
import Testing
@testable import TNTModel

/// A reference fixture written by tools/make_reference.py (PaddlePaddle running PaddleClas's tnt.py).
struct ReferenceFixture {
    let name: String
    let config: TNTConfig
    let weightsPath: String
    let input: NPYArray
    let logits: NPYArray
    let features: NPYArray

    init(directory: String) throws {
        name = URL(fileURLWithPath: directory).lastPathComponent
        config = try TNTConfig.decode(json: try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json")))
        weightsPath = directory + "/weights.safetensors"
        input = try NPYArray(contentsOf: directory + "/input.npy")
        logits = try NPYArray(contentsOf: directory + "/logits.npy")
        features = try NPYArray(contentsOf: directory + "/features.npy")
    }

    static func bundled(_ name: String) throws -> ReferenceFixture {
        try ReferenceFixture(directory: fixturesDirectory + "/" + name)
    }
}

let fixturesDirectory = Bundle.module.resourcePath! + "/Fixtures"

/// The parity bound of issue 1: |Δ| ≤ 1e-4 + 1e-4·|reference|. Returns the worst ratio of
/// error to bound (≤ 1 passes) and the worst absolute error.
func parity(_ actual: [Float], _ expected: [Float]) -> (ratio: Float, maxError: Float) {
    precondition(actual.count == expected.count)
    var ratio: Float = 0, maxError: Float = 0
    for (a, e) in zip(actual, expected) {
        let error = abs(a - e)
        maxError = max(maxError, error)
        ratio = max(ratio, error.isNaN ? .infinity : error / (1e-4 + 1e-4 * abs(e)))
    }
    return (ratio, maxError)
}

/// A scratch directory removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "tnt-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}
