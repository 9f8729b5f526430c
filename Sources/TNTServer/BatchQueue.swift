import Foundation

/// A bounded queue of inputs from which workers take batches: up to `maxBatch` inputs, waiting
/// at most `maxDelay` after the oldest arrived for others to join.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [InferenceItem] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { condition.withLock { items.count } }

    /// Called with the queue's length whenever it changes.
    var onDepthChange: @Sendable (Int) -> Void = { _ in }

    enum EnqueueResult { case accepted, full, closed }

    /// Adds all of a call's inputs, or none when they do not fit or the queue is closed.
    func enqueue(_ newItems: [InferenceItem]) -> EnqueueResult {
        let result: (EnqueueResult, Int) = condition.withLock {
            if closed { return (.closed, items.count) }
            guard items.count + newItems.count <= capacity else { return (.full, items.count) }
            items += newItems
            condition.broadcast()
            return (.accepted, items.count)
        }
        if result.0 == .accepted { onDepthChange(result.1) }
        return result.0
    }

    /// The next batch, or nil once closed and empty.
    func nextBatch(maxBatch: Int, maxDelayNanos: UInt64) -> [InferenceItem]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            while items.isEmpty && !closed { condition.wait() }
            if items.isEmpty { return nil }
            let due = items[0].enqueued + maxDelayNanos
            while items.count < maxBatch && !closed && !items.isEmpty {
                let now = uptimeNanos()
                if now >= due { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
            }
            // Another worker may have taken everything while this one waited.
            if items.isEmpty { continue }
            let batch = Array(items.prefix(maxBatch))
            items.removeFirst(batch.count)
            onDepthChange(items.count)
            return batch
        }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}
