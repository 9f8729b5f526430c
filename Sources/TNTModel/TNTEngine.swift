import COpenBLAS

/// OpenBLAS's thread count is one setting for the whole process.
public enum BLASThreads {
    public static func set(_ count: Int) {
        if openblas_get_num_threads() != Int32(count) { openblas_set_num_threads(Int32(count)) }
    }

    public static var current: Int { Int(openblas_get_num_threads()) }

    /// OpenBLAS's build description, for example `OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell`.
    public static var configDescription: String { String(cString: openblas_get_config()) }

    /// The kernel family OpenBLAS chose for this CPU, for example `Haswell` or `SkylakeX`.
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

/// Runs forward passes for batches of up to `maxBatch` images on `threads` threads.
///
/// Every batch, one image included, is shared by all the threads: the forward pass splits
/// each stage by patches, token rows or heads, and each thread calls OpenBLAS
/// single-threaded on its share (docs/PERFORMANCE.md has the measurements). OpenBLAS's own
/// thread count, one setting for the whole process, is therefore always 1.
public final class TNTEngine: @unchecked Sendable {
    public let weights: TNTWeights
    public let maxBatch: Int
    public let threads: Int
    private let workspace: Workspace

    public init(weights: TNTWeights, maxBatch: Int, threads: Int = 1) {
        precondition(threads > 0 && maxBatch > 0)
        BLASKernels.ensureSelected()
        self.weights = weights
        self.maxBatch = maxBatch
        self.threads = threads
        workspace = Workspace(config: weights.config, maxBatch: maxBatch, threads: threads)
    }

    public var config: TNTConfig { weights.config }

    /// Bytes of scratch memory held by this engine.
    public var workspaceBytes: Int { workspace.byteCount }

    /// - input:    (batch, in_chans, img, img)
    /// - logits:   (batch, class_num)
    /// - features: (batch, embed_dim) or nil
    public func run(
        input: UnsafePointer<Float>, batch: Int,
        logits: UnsafeMutablePointer<Float>, features: UnsafeMutablePointer<Float>? = nil
    ) {
        precondition(batch > 0 && batch <= maxBatch, "batch \(batch) outside 1...\(maxBatch)")
        BLASThreads.set(1)
        forward(weights, input: input, batch: batch, logits: logits, features: features, workspace: workspace)
    }

    /// Array convenience: `input` holds `batch` images; returns logits and features.
    public func run(input: [Float]) -> (logits: [Float], features: [Float]) {
        let c = weights.config
        precondition(input.count % c.inputSize == 0, "input is not a whole number of images")
        let batch = input.count / c.inputSize
        var logits = [Float](repeating: 0, count: batch * c.classNum)
        var features = [Float](repeating: 0, count: batch * c.embedDim)
        var start = 0
        while start < batch {
            let count = min(maxBatch, batch - start)
            input.withUnsafeBufferPointer { i in
                logits.withUnsafeMutableBufferPointer { l in
                    features.withUnsafeMutableBufferPointer { f in
                        run(input: i.baseAddress! + start * c.inputSize, batch: count,
                            logits: l.baseAddress! + start * c.classNum, features: f.baseAddress! + start * c.embedDim)
                    }
                }
            }
            start += count
        }
        return (logits, features)
    }
}
