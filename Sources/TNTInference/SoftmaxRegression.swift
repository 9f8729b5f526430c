import COpenBLAS
import Foundation
import TNTModel

/// A linear classifier on fixed features (a linear probe): logits = x·W + b, trained by
/// minimising the mean cross-entropy plus `weightDecay`/2·‖W‖² (the bias is not decayed) with
/// L-BFGS, full batch, in double precision on OpenBLAS. Deterministic: no randomness at all.
/// Scikit-learn's `LogisticRegression(C:)` minimises the same objective with
/// `weightDecay = 1 / (C · samples)`.
public struct SoftmaxRegression: Sendable {
    /// (features, classes), row-major: the head's layout in a TNT weights file.
    public var weights: [Double]
    /// One per class.
    public var bias: [Double]
    /// The length of a feature vector.
    public let features: Int
    /// The number of classes.
    public let classes: Int

    /// A head of zeros: every class equally likely.
    public init(features: Int, classes: Int) {
        BLASKernels.ensureSelected()
        self.features = features
        self.classes = classes
        weights = [Double](repeating: 0, count: features * classes)
        bias = [Double](repeating: 0, count: classes)
    }

    /// A labelled set of feature rows.
    public struct Samples: Sendable {
        /// (count, features), row-major.
        public let rows: [Double]
        /// Each row's class, `0..<classes`.
        public let labels: [Int]
        /// The number of samples.
        public var count: Int { labels.count }

        /// `rows` holds `labels.count` feature vectors one after another.
        public init(rows: [Double], labels: [Int]) {
            precondition(labels.isEmpty ? rows.isEmpty : rows.count % labels.count == 0, "rows do not match labels")
            self.rows = rows
            self.labels = labels
        }
    }

    /// How to train; `training.json` records them.
    public struct Settings: Sendable, Codable {
        /// λ of λ/2·‖W‖², added to the mean cross-entropy.
        public var weightDecay: Double
        /// The most L-BFGS iterations.
        public var maxIterations = 500
        /// Iterations without a better held-out loss before stopping.
        public var patience = 20
        /// Gradient size (largest component) at which the optimum counts as reached.
        public var tolerance = 1e-6
        /// Corrections L-BFGS keeps.
        public var memory = 10

        /// Defaults for everything but the weight decay.
        public init(weightDecay: Double) { self.weightDecay = weightDecay }
    }

    /// What training did.
    public struct Report: Sendable, Codable {
        /// L-BFGS iterations run.
        public var iterations: Int
        /// The iteration whose parameters were kept (the best held-out loss).
        public var bestIteration: Int
        /// The objective on the training samples, with the decay, of the parameters kept.
        public var trainLoss: Double
        /// The mean cross-entropy on the held-out samples of the parameters kept, if any.
        public var heldOutLoss: Double?
        /// Why training ended: converged, early stopping, max iterations, ...
        public var stopped: String
    }

    /// Trains from zero: L-BFGS on `train`; when `heldOut` has samples, the parameters with the
    /// lowest held-out loss are kept and training stops after `patience` iterations without a
    /// better one (early stopping).
    public static func train(_ train: Samples, heldOut: Samples?, classes: Int, settings: Settings) -> (SoftmaxRegression, Report) {
        let d = train.rows.count / max(train.count, 1)
        var model = SoftmaxRegression(features: d, classes: classes)
        let n = d * classes + classes
        func objective(_ theta: [Double], gradient: inout [Double]) -> Double {
            model.set(theta)
            return model.loss(train, weightDecay: settings.weightDecay, gradient: &gradient)
        }
        var theta = [Double](repeating: 0, count: n)
        var gradient = [Double](repeating: 0, count: n)
        var loss = objective(theta, gradient: &gradient)
        var steps: [[Double]] = [], changes: [[Double]] = []
        var best = (theta: theta, loss: Double.infinity, iteration: 0)
        var iteration = 0
        var stopped = "max iterations"
        func heldOutLoss(_ theta: [Double]) -> Double? {
            guard let heldOut, heldOut.count > 0 else { return nil }
            var probe = SoftmaxRegression(features: d, classes: classes)
            probe.set(theta)
            var unused: [Double] = []
            return probe.loss(heldOut, weightDecay: 0, gradient: &unused)
        }
        while iteration < settings.maxIterations {
            if gradient.map(abs).max() ?? 0 < settings.tolerance { stopped = "converged"; break }
            // Two-loop recursion: direction = −H·gradient.
            var q = gradient
            var alphas: [Double] = []
            for (s, y) in zip(steps, changes).reversed() {
                let alpha = dot(s, q) / dot(y, s)
                alphas.append(alpha)
                for i in 0..<n { q[i] -= alpha * y[i] }
            }
            if let s = steps.last, let y = changes.last {
                let scale = dot(s, y) / dot(y, y)
                for i in 0..<n { q[i] *= scale }
            } else {
                let size = sqrt(dot(gradient, gradient))
                for i in 0..<n { q[i] /= max(size, 1) }
            }
            for ((s, y), alpha) in zip(zip(steps, changes), alphas.reversed()) {
                let beta = dot(y, q) / dot(y, s)
                for i in 0..<n { q[i] += (alpha - beta) * s[i] }
            }
            let direction = q.map { -$0 }
            let slope = dot(gradient, direction)
            guard slope < 0 else { stopped = "no descent direction"; break }
            // Backtracking until the Armijo condition holds.
            var step = 1.0
            var next = theta, nextGradient = gradient, nextLoss = loss
            while true {
                for i in 0..<n { next[i] = theta[i] + step * direction[i] }
                nextLoss = objective(next, gradient: &nextGradient)
                if nextLoss <= loss + 1e-4 * step * slope || step < 1e-10 { break }
                step /= 2
            }
            guard nextLoss < loss else { stopped = "no further decrease"; break }
            let s = (0..<n).map { next[$0] - theta[$0] }
            let y = (0..<n).map { nextGradient[$0] - gradient[$0] }
            if dot(s, y) > 1e-12 {
                steps.append(s)
                changes.append(y)
                if steps.count > settings.memory { steps.removeFirst(); changes.removeFirst() }
            }
            theta = next
            gradient = nextGradient
            loss = nextLoss
            iteration += 1
            if let held = heldOutLoss(theta) {
                if held < best.loss { best = (theta, held, iteration) }
                if iteration - best.iteration >= settings.patience { stopped = "early stopping"; break }
            } else {
                best = (theta, loss, iteration)
            }
        }
        if best.loss == .infinity { best = (theta, loss, iteration) }
        model.set(best.theta)
        var unused: [Double] = []
        let trainLoss = model.loss(train, weightDecay: settings.weightDecay, gradient: &unused)
        return (model, Report(iterations: iteration, bestIteration: best.iteration, trainLoss: trainLoss,
                              heldOutLoss: heldOutLoss(best.theta), stopped: stopped))
    }

    /// Logits of each sample, (count, classes) row-major.
    public func logits(_ rows: [Double], count: Int) -> [Double] {
        var z = [Double](repeating: 0, count: count * classes)
        for r in 0..<count { for k in 0..<classes { z[r * classes + k] = bias[k] } }
        guard count > 0 else { return z }
        rows.withUnsafeBufferPointer { x in
            weights.withUnsafeBufferPointer { w in
                z.withUnsafeMutableBufferPointer { out in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(classes), Int32(features),
                                1, x.baseAddress, Int32(features), w.baseAddress, Int32(classes), 1, out.baseAddress, Int32(classes))
                }
            }
        }
        return z
    }

    /// Mean cross-entropy plus the decay; fills `gradient` (weights then bias) unless it is empty.
    func loss(_ samples: Samples, weightDecay: Double, gradient: inout [Double]) -> Double {
        let count = samples.count
        var z = logits(samples.rows, count: count)
        var total = 0.0
        for r in 0..<count {
            let row = r * classes
            let top = (0..<classes).map { z[row + $0] }.max()!
            var sum = 0.0
            for k in 0..<classes { z[row + k] = exp(z[row + k] - top); sum += z[row + k] }
            total -= log(z[row + samples.labels[r]] / sum)
            // z becomes (probabilities − one-hot) / count: the gradient of the mean loss by the logits.
            for k in 0..<classes { z[row + k] = (z[row + k] / sum - (k == samples.labels[r] ? 1 : 0)) / Double(count) }
        }
        let decay = 0.5 * weightDecay * dot(weights, weights)
        guard !gradient.isEmpty else { return total / Double(count) + decay }
        gradient.withUnsafeMutableBufferPointer { g in
            for i in 0..<weights.count { g[i] = weightDecay * weights[i] }
            samples.rows.withUnsafeBufferPointer { x in
                z.withUnsafeBufferPointer { dz in
                    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(features), Int32(classes), Int32(count),
                                1, x.baseAddress, Int32(features), dz.baseAddress, Int32(classes), 1, g.baseAddress, Int32(classes))
                }
            }
            for k in 0..<classes { g[weights.count + k] = (0..<count).reduce(0) { $0 + z[$1 * classes + k] } }
        }
        return total / Double(count) + decay
    }

    private mutating func set(_ theta: [Double]) {
        weights = Array(theta[0..<features * classes])
        bias = Array(theta[(features * classes)...])
    }
}

private func dot(_ a: [Double], _ b: [Double]) -> Double {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in cblas_ddot(Int32(a.count), x.baseAddress, 1, y.baseAddress, 1) } }
}
