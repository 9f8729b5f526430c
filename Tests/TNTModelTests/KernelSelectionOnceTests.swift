import Testing
@testable import TNTModel

/// OpenBLAS's kernel family is selected once per process: a later selection only checks, so
/// that no product computing on another thread ever sees the kernel table swapped under it.
@Suite struct KernelSelectionOnceTests {
    @Test func aLaterSelectionChecksButNeverSwitches() throws {
        BLASKernels.ensureSelected()
        let family = BLASThreads.coreName
        let again = try BLASKernels.selectAndCheck(configs: [.tntSmall])
        #expect(again.family == family)

        // A failing check now is an error, not a fallback to another family.
        let error = #expect(throws: KernelSelectionError.self) {
            try BLASKernels.selectAndCheck(configs: [.tntSmall], environment: ["TNT_KERNEL_CHECK_FAULT": family])
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("restart the process"))
        #expect(BLASThreads.coreName == family)
    }

    @Test func anEngineSelectsTheKernelsBeforeItComputes() throws {
        let fixture = try ReferenceFixture.bundled("tiny-sharp")
        let engine = TNTEngine(weights: try TNTWeights(config: fixture.config, path: fixture.weightsPath), maxBatch: 3)
        let family = BLASThreads.coreName
        #expect(try BLASKernels.selectAndCheck(configs: [fixture.config]).family == family)
        #expect(parity(engine.run(input: fixture.input.values).logits, fixture.logits.values).ratio <= 1)
    }
}
