import Foundation
@testable import TNTImage
import TNTModel

let fixtures = Bundle.module.resourcePath! + "/Fixtures"

/// ../shared/testdata/pngsuite beside the repository (CI lays shared/ there too).
let pngSuiteDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.deletingLastPathComponent().appendingPathComponent("shared/testdata/pngsuite").path
}()

func bytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
    return [UInt8](data)
}

/// An entry of pngsuite.json or pipeline.json (tools/make_image_expectations.py).
struct Expectation: Decodable, Sendable {
    var decodes: Bool?
    var width: Int?
    var height: Int?
    var sha256: String?
    var crop_sha256: String?
    var tensor_sha256: String
}

func expectations(_ path: String) -> [String: Expectation] {
    try! JSONDecoder().decode([String: Expectation].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Largest per-value difference, and how many values differ at all.
func compare(_ a: [UInt8], _ b: [UInt8]) -> (maxDifference: Int, differing: Int) {
    precondition(a.count == b.count)
    var worst = 0, count = 0
    for (x, y) in zip(a, b) where x != y {
        worst = max(worst, abs(Int(x) - Int(y)))
        count += 1
    }
    return (worst, count)
}

func sha256<T>(_ array: [T]) -> String { array.withUnsafeBytes { SHA256.hex($0) } }
