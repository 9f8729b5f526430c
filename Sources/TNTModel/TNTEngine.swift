import COpenBLAS
import Dispatch

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
/// Threading policy (measured, see docs/PERFORMANCE.md): a batch of at least `threads`
/// images is split into `threads` contiguous parts, each run on its own thread with its own
/// workspace and single-threaded OpenBLAS, so the LayerNorm, GELU and attention kernels
/// scale with the threads as well as the matrix products. A smaller batch runs as one part
/// with OpenBLAS on all threads. The engine sets OpenBLAS's process-wide thread count, so
/// a process runs either one engine with many threads or many single-threaded engines.
public final class TNTEngine: @unchecked Sendable {
    public let weights: TNTWeights
    public let maxBatch: Int
    public let threads: Int
    private let workspaces: [Workspace]

    public init(weights: TNTWeights, maxBatch: Int, threads: Int = 1) {
        precondition(threads > 0 && maxBatch > 0)
        self.weights = weights
        self.maxBatch = maxBatch
        self.threads = threads
        let partSize = (maxBatch + threads - 1) / threads
        workspaces = (0..<min(threads, maxBatch)).map { _ in Workspace(config: weights.config, maxBatch: partSize) }
    }

    public var config: TNTConfig { weights.config }

    /// Bytes of scratch memory held by this engine.
    public var workspaceBytes: Int { workspaces.reduce(0) { $0 + $1.byteCount } }

    /// - input:    (batch, in_chans, img, img)
    /// - logits:   (batch, class_num)
    /// - features: (batch, embed_dim) or nil
    public func run(
        input: UnsafePointer<Float>, batch: Int,
        logits: UnsafeMutablePointer<Float>, features: UnsafeMutablePointer<Float>? = nil
    ) {
        precondition(batch > 0 && batch <= maxBatch, "batch \(batch) outside 1...\(maxBatch)")
        let c = weights.config
        let parts = min(threads, batch)
        BLASThreads.set(threads / parts)
        if parts == 1 {
            forward(weights, input: input, batch: batch, logits: logits, features: features, workspace: workspaces[0])
            return
        }
        let base = batch / parts, extra = batch % parts
        let io = BatchPointers(input: input, logits: logits, features: features)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = part * base + min(part, extra)
            let count = base + (part < extra ? 1 : 0)
            forward(weights, input: io.input + start * c.inputSize, batch: count,
                    logits: io.logits + start * c.classNum, features: io.features.map { $0 + start * c.embedDim },
                    workspace: workspaces[part])
        }
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

/// The caller's buffers, shared with the threads that each fill a disjoint slice of them.
private struct BatchPointers: @unchecked Sendable {
    let input: UnsafePointer<Float>
    let logits: UnsafeMutablePointer<Float>
    let features: UnsafeMutablePointer<Float>?
}
