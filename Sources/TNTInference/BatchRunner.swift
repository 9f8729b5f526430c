import Foundation
import TNTModel

/// Computes the tensors of any number of callers in batches, on one thread of its own: a
/// batch is taken from a `BatchQueue` (the server's workers use the same) when `maxBatch`
/// tensors wait or the oldest has waited `maxDelay`.
final class BatchRunner: @unchecked Sendable {
    /// One image's outputs.
    struct Row: Sendable {
        let logits: [Float]
        let features: [Float]
    }

    private struct Waiting: BatchQueueItem {
        let tensor: [Float]
        let enqueued: UInt64
        let deliver: @Sendable (Row) -> Void
    }

    private let engine: TNTEngine
    private let maxDelayNanos: UInt64
    private let queue = BatchQueue<Waiting>(capacity: .max)

    init(engine: TNTEngine, maxDelay: Duration) {
        self.engine = engine
        let (seconds, attoseconds) = maxDelay.components
        maxDelayNanos = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        let thread = Thread { [self] in run() }
        thread.name = "tnt-classifier"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The rows of `tensors`, in order. They are queued together, in order, so that one
    /// caller's images fill batches in the order given.
    func compute(_ tensors: [[Float]]) async -> [Row] {
        guard !tensors.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let rows = Rows(count: tensors.count, continuation)
            let now = DispatchTime.now().uptimeNanoseconds
            // All or nothing, and never full: the queue is unbounded; closed only in deinit.
            _ = queue.enqueue(tensors.enumerated().map { k, tensor in Waiting(tensor: tensor, enqueued: now) { rows.set(k, $0) } })
        }
    }

    /// The thread computes what waits, then ends.
    func close() { queue.close() }

    private func run() {
        var buffers = engine.makeBuffers()
        while let batch = queue.nextBatch(maxBatch: engine.maxBatch, maxDelayNanos: maxDelayNanos) {
            for (k, item) in batch.enumerated() { buffers.setInput(k, item.tensor) }
            engine.run(&buffers, batch: batch.count)
            for (k, item) in batch.enumerated() { item.deliver(Row(logits: buffers.logits(of: k), features: buffers.features(of: k))) }
        }
    }
}

/// One caller's rows as they are computed; the caller resumes with all of them.
private final class Rows: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [BatchRunner.Row?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[BatchRunner.Row], Never>

    init(count: Int, _ continuation: CheckedContinuation<[BatchRunner.Row], Never>) {
        rows = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func set(_ k: Int, _ row: BatchRunner.Row) {
        let done: [BatchRunner.Row]? = lock.withLock {
            rows[k] = row
            remaining -= 1
            return remaining == 0 ? rows.map { $0! } : nil
        }
        if let done { continuation.resume(returning: done) }
    }
}
