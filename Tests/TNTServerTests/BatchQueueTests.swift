import Foundation
import Testing
import TNTInference
import TNTProtocol
@testable import TNTServer

/// The batching queue in-process: batch sizes, the wait for a batch to fill, the bound.
@Suite struct BatchQueueTests {
    func items(_ count: Int, enqueued: UInt64 = uptimeNanos()) throws -> [InferenceItem] {
        let call = PredictCall(request: PredictRequest(inputs: Array(repeating: .encodedImage([1]), count: count)),
                               model: placeholderModel, deadline: nil) { _ in }
        return (0..<count).map { InferenceItem(call: call, index: $0, enqueued: enqueued) }
    }

    @Test func takesUpToMaxBatchInArrivalOrder() throws {
        let queue = BatchQueue<InferenceItem>(capacity: 100)
        #expect(queue.enqueue(try items(10, enqueued: 0)) == .accepted)
        let sizes = (0..<3).map { _ in queue.nextBatch(maxBatch: 4, maxDelayNanos: 0)!.count }
        #expect(sizes == [4, 4, 2])
        queue.close()
        #expect(queue.nextBatch(maxBatch: 4, maxDelayNanos: 0) == nil)
    }

    @Test func waitsForTheBatchToFillThenGivesUp() throws {
        let queue = BatchQueue<InferenceItem>(capacity: 100)
        #expect(queue.enqueue(try items(1)) == .accepted)
        let start = uptimeNanos()
        let batch = queue.nextBatch(maxBatch: 8, maxDelayNanos: 50_000_000)!
        #expect(batch.count == 1)
        #expect(uptimeNanos() - start >= 40_000_000, "waited for others to join")
    }

    @Test func refusesAWholeCallThatDoesNotFit() throws {
        let queue = BatchQueue<InferenceItem>(capacity: 5)
        #expect(queue.enqueue(try items(3)) == .accepted)
        #expect(queue.enqueue(try items(3)) == .full)
        #expect(queue.count == 3)
        #expect(queue.enqueue(try items(2)) == .accepted)
        queue.close()
        #expect(queue.enqueue(try items(1)) == .closed)
    }
}

let placeholderModel: LoadedModel = LoadedModel.load(name: "none", directory: "/nonexistent")
