import Foundation

/// What a `BatchQueue` holds: anything that knows when it was queued.
public protocol BatchQueueItem: Sendable {
    /// Uptime in nanoseconds (`DispatchTime.now().uptimeNanoseconds`) when it was queued.
    var enqueued: UInt64 { get }
}

/// A bounded queue of inputs from which workers take batches: up to `maxBatch` inputs, waiting
/// at most `maxDelay` after the oldest arrived for others to join. The server's model workers
/// and `TNTClassifier` take their batches from it.
public final class BatchQueue<Item: BatchQueueItem>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var closed = false
    public let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    public var count: Int { condition.withLock { items.count } }

    /// Called with the queue's length whenever it changes.
    public var onDepthChange: @Sendable (Int) -> Void = { _ in }

    public enum EnqueueResult { case accepted, full, closed }

    /// Adds all of a call's inputs, or none when they do not fit or the queue is closed.
    public func enqueue(_ newItems: [Item]) -> EnqueueResult {
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
    public func nextBatch(maxBatch: Int, maxDelayNanos: UInt64) -> [Item]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            while items.isEmpty && !closed { condition.wait() }
            if items.isEmpty { return nil }
            let due = items[0].enqueued + maxDelayNanos
            while items.count < maxBatch && !closed && !items.isEmpty {
                let now = DispatchTime.now().uptimeNanoseconds
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

    public func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}
