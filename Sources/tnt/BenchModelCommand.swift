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
        let path = try weights ?? writeRandomWeights(config)
        let model = try TNTWeights(config: config, path: path)
        let flopsPerImage = 2 * Double(config.multiplyAdds)
        print("OpenBLAS: \(BLASThreads.configDescription); kernels: \(BLASThreads.coreName)")
        print("model: \(arch), \(model.parameterCount) parameters, \(String(format: "%.2f", flopsPerImage / 1e9)) GFLOP per image, weights \(weights ?? "random")")
        print("| batch | threads | median ms/batch | images/s | GFLOP/s | sgemm 2048³ GFLOP/s | ratio | workspace MB | RSS MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in threadCounts {
            let ceiling = sgemmCeiling(threads: t, seconds: min(seconds, 3))
            for b in batches {
                let engine = TNTEngine(weights: model, maxBatch: b, threads: t)
                var rng = SplitMix64(seed: 7)
                let input = (0..<b * config.inputSize).map { _ in Float.random(in: -1...1, using: &rng) }
                var logits = [Float](repeating: 0, count: b * config.classNum)
                let median = medianSeconds(budget: seconds) {
                    input.withUnsafeBufferPointer { i in
                        logits.withUnsafeMutableBufferPointer { engine.run(input: i.baseAddress!, batch: b, logits: $0.baseAddress!) }
                    }
                }
                let gflops = flopsPerImage * Double(b) / median / 1e9
                print(String(format: "| %d | %d | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f |",
                             b, t, median * 1000, Double(b) / median, gflops, ceiling, gflops / ceiling,
                             Double(engine.workspaceBytes) / 1e6, Double(residentBytes()) / 1e6))
            }
        }
        print("weights file: \(String(format: "%.1f", Double(model.file.fileSize) / 1e6)) MB")
        if weights == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    private func writeRandomWeights(_ config: TNTConfig) throws -> String {
        let path = NSTemporaryDirectory() + "tnt-bench-\(getpid()).safetensors"
        try SafeTensorsWriter.write(SafeTensorsWriter.randomWeights(config: config, seed: 1), to: path)
        return path
    }
}

/// Median seconds of `body` over repeated runs (one warm-up, at least 3, about `budget` seconds).
func medianSeconds(budget: Double, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    repeat {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    } while times.count < 3 || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < budget
    return times.sorted()[times.count / 2]
}

/// GFLOP/s of a 2048³ sgemm with OpenBLAS on `threads` threads: the ceiling for this machine.
func sgemmCeiling(threads: Int, seconds: Double) -> Double {
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    BLASThreads.set(threads)
    let median = medianSeconds(budget: seconds) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
    }
    return 2 * Double(n * n * n) / median / 1e9
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .ascii) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
