import Foundation
import Testing
@testable import TNTInference

/// The bundled digits model through the in-process library.
@Suite struct TNTClassifierTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    func example(_ digit: Int) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(Self.root)/examples/digit\(digit).png")))
    }

    @Test func classifiesTheExamplesAndReturnsWhatIsAskedFor() async throws {
        let model = try TNTClassifier(directory: Self.root + "/models/digits")
        #expect(model.model.name == "digits" && model.model.labels.count == 10)
        for digit in 0..<10 {
            let top = try await model.classify(try example(digit), topK: 3, outputs: [.features, .logits])
            #expect(top.classIDs.count == 3 && top.labelNames.count == 3 && top.scores.count == 3)
            #expect(top.classIDs[0] == digit)
            #expect(top.labelNames[0] == "digit \(digit)")
            #expect(top.scores == top.scores.sorted(by: >))
            #expect(top.features.count == 128 && top.logits.count == 10 && top.probabilities.isEmpty)
        }
    }

    @Test func concurrentCallersShareBatchesAndGetTheirOwnAnswers() async throws {
        let model = try TNTClassifier(directory: Self.root + "/models/digits", maxBatch: 8, maxDelay: .milliseconds(50))
        let images = try (0..<10).map(example)
        var alone: [Prediction] = []
        for image in images { alone.append(try await model.classify(image)) }
        let together = try await withThrowingTaskGroup(of: (Int, Prediction).self) { group in
            for (k, image) in images.enumerated() { group.addTask { (k, try await model.classify(image)) } }
            var results = [Prediction?](repeating: nil, count: images.count)
            for try await (k, prediction) in group { results[k] = prediction }
            return results.map { $0! }
        }
        for (a, b) in zip(alone, together) {
            #expect(a.classIDs == b.classIDs)
            // A batch may change a score's last bits with the image's row (docs/ARCHITECTURE.md).
            for (x, y) in zip(a.scores, b.scores) { #expect(abs(x - y) <= 1e-5) }
        }
        let batch = try await model.classify(images)
        #expect(batch.map { $0.classIDs.first! } == Array(0..<10))
    }

    @Test func errorsSayWhatIsWrong() async throws {
        #expect(throws: TNTClassifierError.self) { try TNTClassifier(directory: Self.root + "/models/nothing-here") }
        let model = try TNTClassifier(directory: Self.root + "/models/digits")
        await #expect(throws: TNTClassifierError.self) { try await model.classify([0x89, 0x50, 0x4E, 0x47]) }
        await #expect(throws: TNTClassifierError.input("a tensor of 3 values; the model takes 3×64×64 = 12288")) {
            try await model.classify(tensor: [1, 2, 3])
        }
    }
}
