import ArgumentParser
import COpenBLAS
import Foundation
import TNTModel

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Forward-pass speed per batch size and thread count, beside OpenBLAS's sgemm ceiling."
    )

    @Option(help: "tnt_small, tnt_base, or a JSON config file.") var arch = "tnt_small"
    @Option(help: "Weights (safetensors); random weights when absent.") var weights: String?
    @Option(help: "Batch sizes, comma-separated.") var batch = "1,8"
    @Option(help: "Thread counts, comma-separated.") var threads = "1,2"
    @Option(help: "Seconds of measurement per configuration.") var seconds = 5.0

    func run() throws {
        let config = try TNTConfig.resolve(arch)
        let batches = try parseList(batch, name: "batch"), threadCounts = try parseList(threads, name: "threads")
        let selection = try selectKernels(configs: [config])
        let path = try weights ?? writeRandomWeights(config)
        let model = try TNTWeights(config: config, path: path)
        let flopsPerImage = 2 * Double(config.multiplyAdds)
        print("OpenBLAS: \(BLASThreads.configDescription)")
        print(selection.summary)
        print("model: \(arch), \(model.parameterCount) parameters, \(String(format: "%.2f", flopsPerImage / 1e9)) GFLOP per image, weights \(weights ?? "random")")
        printMemory(model)
        print("| batch | threads | median ms/batch | images/s | GFLOP/s | sgemm 2048³ GFLOP/s | ratio | workspace MB | RSS MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        let ceiling = SgemmCeiling()
        for t in threadCounts {
            for b in batches {
                let engine = TNTEngine(weights: model, maxBatch: b, threads: t)
                var rng = SplitMix64(seed: 7)
                let input = (0..<b * config.inputSize).map { _ in Float.random(in: -1...1, using: &rng) }
                var logits = [Float](repeating: 0, count: b * config.classNum)
                // Model and sgemm alternate, so both see the same share of a noisy machine.
                let (median, sgemmMedian) = interleavedMedians(budget: seconds, {
                    input.withUnsafeBufferPointer { i in
                        logits.withUnsafeMutableBufferPointer { engine.run(input: i.baseAddress!, batch: b, logits: $0.baseAddress!) }
                    }
                }, { ceiling.run(threads: t) })
                let gflops = flopsPerImage * Double(b) / median / 1e9
                let sgemmGflops = ceiling.flops / sgemmMedian / 1e9
                print(String(format: "| %d | %d | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f |",
                             b, t, median * 1000, Double(b) / median, gflops, sgemmGflops, gflops / sgemmGflops,
                             Double(engine.workspaceBytes) / 1e6, Double(residentBytes()) / 1e6))
            }
        }
        if weights == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Resident memory once the weights are loaded and every page of them has been read by a
    /// forward pass, before the benchmark allocates anything of its own.
    private func printMemory(_ model: TNTWeights) {
        let c = model.config
        let engine = TNTEngine(weights: model, maxBatch: 1, threads: 1)
        let input = [Float](repeating: 0.1, count: c.inputSize)
        var logits = [Float](repeating: 0, count: c.classNum)
        input.withUnsafeBufferPointer { i in
            logits.withUnsafeMutableBufferPointer { engine.run(input: i.baseAddress!, batch: 1, logits: $0.baseAddress!) }
        }
        let mb = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1e6) }
        let rss = residentBytes(), weights = model.file.fileSize, workspace = engine.workspaceBytes
        print("memory after loading and one forward pass: RSS \(mb(rss)) = weights \(mb(weights)) + workspace (batch 1) \(mb(workspace)) + \(mb(rss - weights - workspace)) other")
    }

    private func writeRandomWeights(_ config: TNTConfig) throws -> String {
        let path = NSTemporaryDirectory() + "tnt-bench-\(getpid()).safetensors"
        try SafeTensorsWriter.write(SafeTensorsWriter.randomWeights(config: config, seed: 1), to: path)
        return path
    }
}

/// Seconds `body` takes.
func elapsedSeconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start) / .seconds(1)
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// Median seconds of `body` over repeated runs (one warm-up, at least 5, about `budget` seconds).
func medianSeconds(budget: Double, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    let end = ContinuousClock.now + .seconds(budget)
    repeat { times.append(try elapsedSeconds(body)) } while times.count < 5 || ContinuousClock.now < end
    return median(times)
}

/// Median seconds of `model` and of `reference`, run alternately (one warm-up each, at least
/// 5 rounds, about `budget` seconds in all).
func interleavedMedians(budget: Double, _ model: () -> Void, _ reference: () -> Void) -> (Double, Double) {
    model()
    reference()
    var modelTimes: [Double] = [], referenceTimes: [Double] = []
    let end = ContinuousClock.now + .seconds(budget)
    repeat {
        modelTimes.append(elapsedSeconds(model))
        referenceTimes.append(elapsedSeconds(reference))
    } while modelTimes.count < 5 || ContinuousClock.now < end
    return (median(modelTimes), median(referenceTimes))
}

/// A 2048³ sgemm through OpenBLAS on `threads` threads: the ceiling a forward pass made of
/// matrix products could reach. It is threaded the way the engine is, each thread running
/// single-threaded OpenBLAS on its share of the rows, so that OpenBLAS's own thread pool
/// (whose idle threads spin for a while after each call) never competes with the model.
final class SgemmCeiling {
    let n = 2048
    let a: [Float], b: [Float]
    var c: [Float]
    var flops: Double { 2 * Double(n * n * n) }

    init() {
        a = [Float](repeating: 0.5, count: n * n)
        b = [Float](repeating: 0.25, count: n * n)
        c = [Float](repeating: 0, count: n * n)
    }

    func run(threads: Int) {
        BLASThreads.set(1)
        let n = self.n
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    let pointers = CeilingPointers(a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: threads) { part in
                        let rows = n / threads, first = part * rows, count = part == threads - 1 ? n - first : rows
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(n), Int32(n), 1,
                                    pointers.a + first * n, Int32(n), pointers.b, Int32(n), 0, pointers.c + first * n, Int32(n))
                    }
                }
            }
        }
    }
}

private struct CeilingPointers: @unchecked Sendable {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .ascii) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
