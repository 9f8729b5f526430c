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

    /// Indices of the k highest probabilities, highest first; ties go to the lower class id.
    public static func topK(_ probabilities: [Float], k: Int) -> [Int] {
        let k = min(max(k, 0), probabilities.count)
        return probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            .prefix(k).map { $0 }
    }
}
