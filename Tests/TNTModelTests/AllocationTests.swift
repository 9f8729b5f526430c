import CAllocationCounter
import Testing
@testable import TNTModel

/// The forward pass allocates nothing: every buffer comes from the workspace. What OpenBLAS
/// allocates inside `cblas_sgemm` is its own business (its SkylakeX kernels malloc scratch
/// for some shapes) and is not counted.
@Suite(.enabled(if: allocation_counter_available() != 0, "sanitizer build: the allocation counter is compiled out"))
struct AllocationTests {
    init() { allocation_counter_ignore_library_of("cblas_sgemm") }

    @Test(arguments: [1, 2]) func forwardPassMakesNoHeapAllocation(threads: Int) throws {
        let fixture = try ReferenceFixture.bundled("tiny-sharp")
        let weights = try TNTWeights(config: fixture.config, path: fixture.weightsPath)
        let c = fixture.config
        let workspace = Workspace(config: c, maxBatch: 3, threads: threads)
        var logits = [Float](repeating: 0, count: 3 * c.classNum)
        var features = [Float](repeating: 0, count: 3 * c.embedDim)
        BLASThreads.set(1)
        let count = fixture.input.values.withUnsafeBufferPointer { input in
            logits.withUnsafeMutableBufferPointer { l in
                features.withUnsafeMutableBufferPointer { f in
                    // Warm up once (OpenBLAS sets up its buffers on first use), then count.
                    forward(weights, input: input.baseAddress!, batch: 3, logits: l.baseAddress!, features: f.baseAddress!, workspace: workspace)
                    allocation_counter_start()
                    forward(weights, input: input.baseAddress!, batch: 3, logits: l.baseAddress!, features: f.baseAddress!, workspace: workspace)
                    return allocation_counter_stop()
                }
            }
        }
        #expect(count == 0, "forward pass on \(threads) threads made \(count) heap allocations")
        #expect(parity(logits, fixture.logits.values).ratio <= 1)
    }

    @Test func counterSeesAllocations() {
        allocation_counter_start()
        let array = [Int](repeating: 1, count: 1000)
        let count = allocation_counter_stop()
        #expect(array.count == 1000)
        #expect(count >= 1, "the counter must see an array's allocation")
    }
}
