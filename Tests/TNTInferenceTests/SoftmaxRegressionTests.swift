import Foundation
import Testing
import TNTModel
@testable import TNTInference

/// The linear probe's objective, its gradient and its optimiser, on data made here.
@Suite struct SoftmaxRegressionTests {
    /// Three Gaussian blobs in 4 dimensions, `perClass` points each.
    func blobs(perClass: Int, seed: UInt64, spread: Float = 0.6) -> SoftmaxRegression.Samples {
        var rng = SplitMix64(seed: seed)
        let centres: [[Double]] = [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]]
        var rows: [Double] = [], labels: [Int] = []
        for (label, centre) in centres.enumerated() {
            for _ in 0..<perClass {
                rows += centre.map { $0 + Double(rng.nextNormal() * spread) }
                labels.append(label)
            }
        }
        return .init(rows: rows, labels: labels)
    }

    @Test func gradientMatchesFiniteDifferences() {
        let samples = blobs(perClass: 5, seed: 1)
        var model = SoftmaxRegression(features: 4, classes: 3)
        var rng = SplitMix64(seed: 2)
        model.weights = model.weights.map { _ in Double(rng.nextNormal()) }
        model.bias = model.bias.map { _ in Double(rng.nextNormal()) }
        var gradient = [Double](repeating: 0, count: 15)
        _ = model.loss(samples, weightDecay: 0.3, gradient: &gradient)
        var unused: [Double] = []
        for i in 0..<15 {
            var plus = model, minus = model
            if i < 12 { plus.weights[i] += 1e-6; minus.weights[i] -= 1e-6 } else { plus.bias[i - 12] += 1e-6; minus.bias[i - 12] -= 1e-6 }
            let numeric = (plus.loss(samples, weightDecay: 0.3, gradient: &unused) - minus.loss(samples, weightDecay: 0.3, gradient: &unused)) / 2e-6
            #expect(abs(numeric - gradient[i]) < 1e-6, "parameter \(i): \(numeric) against \(gradient[i])")
        }
    }

    @Test func reachesTheOptimumWithoutHeldOutData() {
        let samples = blobs(perClass: 40, seed: 3)
        let (model, report) = SoftmaxRegression.train(samples, heldOut: nil, classes: 3, settings: .init(weightDecay: 0.01))
        #expect(report.stopped == "converged" || report.stopped == "no further decrease")
        var gradient = [Double](repeating: 0, count: 15)
        _ = model.loss(samples, weightDecay: 0.01, gradient: &gradient)
        #expect(gradient.map(abs).max()! < 1e-5)
        let logits = model.logits(samples.rows, count: samples.count)
        let correct = samples.labels.indices.filter { r in
            let row = logits[r * 3..<(r + 1) * 3]
            return row.firstIndex(of: row.max()!)! - r * 3 == samples.labels[r]
        }.count
        #expect(correct >= samples.count * 95 / 100)
    }

    @Test func keepsTheBestHeldOutParametersAndIsDeterministic() throws {
        let train = blobs(perClass: 30, seed: 4, spread: 1.5), held = blobs(perClass: 30, seed: 5, spread: 1.5)
        var settings = SoftmaxRegression.Settings(weightDecay: 0)
        settings.patience = 5
        let (first, report) = SoftmaxRegression.train(train, heldOut: held, classes: 3, settings: settings)
        let (second, _) = SoftmaxRegression.train(train, heldOut: held, classes: 3, settings: settings)
        #expect(first.weights == second.weights && first.bias == second.bias)
        #expect(report.bestIteration <= report.iterations)
        var unused: [Double] = []
        #expect(first.loss(held, weightDecay: 0, gradient: &unused) == (try #require(report.heldOutLoss)))
    }
}

@Suite struct LabelledImagesTests {
    @Test func splitIsStratifiedAndSeeded() {
        let entries = (0..<3).flatMap { label in (0..<(10 * (label + 1))).map { LabelledImages.Entry(path: "\(label)/\($0).png", label: label) } }
        let all = LabelledImages(entries: entries, classNames: ["a", "b", "c"])
        let (train, held) = all.split(heldOutFraction: 0.2, seed: 7)
        #expect(held.entries.filter { $0.label == 0 }.count == 2)
        #expect(held.entries.filter { $0.label == 1 }.count == 4)
        #expect(held.entries.filter { $0.label == 2 }.count == 6)
        #expect(Set(train.entries.map(\.path)).isDisjoint(with: held.entries.map(\.path)))
        #expect(train.entries.count + held.entries.count == entries.count)
        #expect(all.split(heldOutFraction: 0.2, seed: 7).heldOut.entries == held.entries)
        #expect(all.split(heldOutFraction: 0.2, seed: 8).heldOut.entries != held.entries)
    }

    @Test func aClassOfOneStaysInTraining() {
        let all = LabelledImages(entries: [.init(path: "x", label: 0), .init(path: "y", label: 1), .init(path: "z", label: 1)], classNames: ["a", "b"])
        let (train, held) = all.split(heldOutFraction: 0.5, seed: 1)
        #expect(train.entries.map(\.path).contains("x"))
        #expect(held.entries.count == 1)
    }
}
