/// A batch's inputs and outputs, allocated once for `maxBatch` images and reused by a loop
/// that runs batch after batch (the server's workers, `TNTClassifier`).
public struct BatchBuffers {
    public let config: TNTConfig
    public let maxBatch: Int
    private var input: [Float]
    private var logits: [Float]
    private var features: [Float]

    public init(config: TNTConfig, maxBatch: Int) {
        self.config = config
        self.maxBatch = maxBatch
        input = [Float](repeating: 0, count: maxBatch * config.inputSize)
        logits = [Float](repeating: 0, count: maxBatch * config.classNum)
        features = [Float](repeating: 0, count: maxBatch * config.embedDim)
    }

    /// Puts image `k`'s tensor (`inputSize` values) in place.
    public mutating func setInput(_ k: Int, _ tensor: [Float]) {
        precondition(tensor.count == config.inputSize, "a tensor of \(tensor.count) values for an input of \(config.inputSize)")
        input.withUnsafeMutableBufferPointer { ($0.baseAddress! + k * config.inputSize).update(from: tensor, count: config.inputSize) }
    }

    /// Image `k`'s logits after `TNTEngine.run(_:batch:)`.
    public func logits(of k: Int) -> [Float] { Array(logits[k * config.classNum..<(k + 1) * config.classNum]) }

    /// Image `k`'s features after `TNTEngine.run(_:batch:)`.
    public func features(of k: Int) -> [Float] { Array(features[k * config.embedDim..<(k + 1) * config.embedDim]) }

    mutating func withPointers(_ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        input.withUnsafeBufferPointer { i in
            logits.withUnsafeMutableBufferPointer { l in
                features.withUnsafeMutableBufferPointer { f in body(i.baseAddress!, l.baseAddress!, f.baseAddress!) }
            }
        }
    }
}

extension TNTEngine {
    /// Buffers for batches of up to this engine's `maxBatch` images.
    public func makeBuffers() -> BatchBuffers { BatchBuffers(config: config, maxBatch: maxBatch) }

    /// Runs the first `batch` images of `buffers`, writing their logits and features there.
    public func run(_ buffers: inout BatchBuffers, batch: Int) {
        precondition(buffers.config == config && batch <= buffers.maxBatch, "buffers made for another configuration or smaller batches")
        buffers.withPointers { run(input: $0, batch: batch, logits: $1, features: $2) }
    }
}
