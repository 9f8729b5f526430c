import Foundation

/// Softmax probabilities and the top classes, as PaddleClas's Topk postprocess reports them.
public enum Classify {
    /// softmax(logits), computed in Double and rounded to Float.
    public static func softmax(_ logits: UnsafeBufferPointer<Float>) -> [Float] {
        let m = Double(logits.max() ?? 0)
        let exps = logits.map { Foundation.exp(Double($0) - m) }
        let sum = exps.reduce(0, +)
        return exps.map { Float($0 / sum) }
    }

    /// One image's classes ranked from its logits.
    public struct Ranking: Sendable {
        /// softmax(logits), every class.
        public let probabilities: [Float]
        /// The k best classes, best first.
        public let classIDs: [Int]
        /// Their probabilities.
        public let scores: [Float]
        /// Their labels; empty when `labels` was.
        public let labelNames: [String]
    }

    /// The `k` best classes of `logits` (one image), as a server answer or a `TNTClassifier`
    /// prediction reports them.
    public static func rank(_ logits: [Float], k: Int, labels: [String]) -> Ranking {
        let probabilities = logits.withUnsafeBufferPointer { softmax($0) }
        let ids = topK(probabilities, k: k)
        return Ranking(probabilities: probabilities, classIDs: ids, scores: ids.map { probabilities[$0] },
                       labelNames: labels.isEmpty ? [] : ids.map { labels[$0] })
    }

    /// Indices of the k highest probabilities, highest first; ties go to the lower class id.
    public static func topK(_ probabilities: [Float], k: Int) -> [Int] {
        let k = min(max(k, 0), probabilities.count)
        return probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            .prefix(k).map { $0 }
    }
}
