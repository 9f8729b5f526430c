import Foundation
import Testing
@testable import TNTModel

/// Logits and features against PaddlePaddle, at the reference batch and one image at a time.
@Suite struct ParityTests {
    /// Fixtures `make test` generates with PaddlePaddle (tiny, TNT_small and TNT_base, stock
    /// and sharpened weights) in the folder TNT_REFERENCE_DIR names.
    static let generated: [String] = {
        guard let root = ProcessInfo.processInfo.environment["TNT_REFERENCE_DIR"] else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().map { root + "/" + $0 }
    }()

    @Test func bundledTinyFixtureMatchesPaddle() throws {
        try check(ReferenceFixture.bundled("tiny-sharp"), threads: 1)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TNT_REFERENCE_DIR"] != nil),
          arguments: generated)
    func generatedFixtureMatchesPaddle(directory: String) throws {
        let fixture = try ReferenceFixture(directory: directory)
        try check(fixture, threads: 1)
        try check(fixture, threads: 2)
    }

    @Test func generatedFixturesArePresentWhenRequested() throws {
        guard ProcessInfo.processInfo.environment["TNT_REFERENCE_DIR"] != nil else { return }
        let names = Set(Self.generated.map { URL(fileURLWithPath: $0).lastPathComponent })
        for required in ["tiny-stock", "tiny-sharp", "tnt_small-stock", "tnt_small-sharp", "tnt_base-stock", "tnt_base-sharp"] {
            #expect(names.contains(required), "missing generated fixture \(required)")
        }
    }

    /// The sharpened fixture can fail: scaling the attention scores as a wrong `scale` would
    /// (here by √2 through the qk weights) must break parity, inner and outer alike.
    @Test(arguments: ["attn_in.qk.weight", "attn_out.qk.weight"])
    func sharpenedFixtureDetectsAWrongAttentionScale(tensorSuffix: String) throws {
        let fixture = try ReferenceFixture.bundled("tiny-sharp")
        let file = try SafeTensorsFile(path: fixture.weightsPath)
        let tensors = file.tensors.keys.sorted().map { name -> SafeTensorsWriter.Tensor in
            let info = file.tensors[name]!
            let gain: Float = name.hasSuffix(tensorSuffix) ? pow(2, 0.25) : 1
            return .init(name: name, shape: info.shape, values: file.bytes(of: info).bindMemory(to: Float.self).map { $0 * gain })
        }
        let dir = try TemporaryDirectory()
        try SafeTensorsWriter.write(tensors, to: dir.file("w.safetensors"))
        let engine = TNTEngine(weights: try TNTWeights(config: fixture.config, path: dir.file("w.safetensors")), maxBatch: 3)
        let result = parity(engine.run(input: fixture.input.values).logits, fixture.logits.values)
        #expect(result.ratio > 10, "a √2 error in the \(tensorSuffix) scores moved logits by only \(result.maxError)")
    }

    private func check(_ fixture: ReferenceFixture, threads: Int) throws {
        let weights = try TNTWeights(config: fixture.config, path: fixture.weightsPath)
        let batch = fixture.input.shape[0]
        #expect(batch == 3, "parity needs a batch of 3 to show images do not affect each other")

        let engine = TNTEngine(weights: weights, maxBatch: batch, threads: threads)
        let whole = engine.run(input: fixture.input.values)
        let logits = parity(whole.logits, fixture.logits.values)
        let features = parity(whole.features, fixture.features.values)
        print("\(fixture.name) batch \(batch) threads \(threads): max |Δlogit| \(logits.maxError) (ratio \(logits.ratio)), max |Δfeature| \(features.maxError)")
        #expect(logits.ratio <= 1, "\(fixture.name): logits off by \(logits.maxError)")
        #expect(features.ratio <= 1, "\(fixture.name): features off by \(features.maxError)")

        // Each image alone must give what PaddlePaddle gave it inside the batch.
        let single = TNTEngine(weights: weights, maxBatch: 1, threads: threads)
        let c = fixture.config
        for image in 0..<batch {
            let alone = single.run(input: Array(fixture.input.values[image * c.inputSize..<(image + 1) * c.inputSize]))
            let expected = Array(fixture.logits.values[image * c.classNum..<(image + 1) * c.classNum])
            let result = parity(alone.logits, expected)
            #expect(result.ratio <= 1, "\(fixture.name) image \(image) alone: logits off by \(result.maxError)")
        }
    }
}
