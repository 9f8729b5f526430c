import ArgumentParser
import Foundation
import TNTImage
import TNTModel
import TNTProtocol
import TNTServer

/// A model of a repository, loaded in this process.
struct LocalModel {
    let model: LoadedModel
    let engine: TNTEngine

    init(models: String, name: String?, maxBatch: Int) throws {
        let repository = try ModelRepository(directory: models)
        guard let chosen = name ?? repository.defaultModel, let model = repository.models[chosen] else {
            throw ValidationError("no model '\(name ?? "")' in \(models); models: \(repository.models.keys.sorted().joined(separator: ", "))")
        }
        guard let weights = model.weights else { throw ValidationError("model '\(chosen)' failed to load: \(model.info.stateReason)") }
        self.model = model
        try selectKernels(configs: [weights.config])
        engine = TNTEngine(weights: weights, maxBatch: maxBatch, threads: CPUBudget.cores)
    }

    func tensor(_ path: String) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
        return try Preprocessor.tensor(try ImageDecoder.decode([UInt8](data)), config: model.preprocess)
    }

    /// Softmax probabilities per image, in order.
    func probabilities(_ tensors: [[Float]]) -> [[Float]] {
        let classes = model.info.classes
        let logits = engine.run(input: tensors.flatMap { $0 }).logits
        return (0..<tensors.count).map { i in
            logits[i * classes..<(i + 1) * classes].withContiguousStorageIfAvailable { Classify.softmax($0) }!
        }
    }
}

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify images in this process (no server), as PaddleClas's predictor reports them."
    )

    @Option(help: "The model repository.") var models = "models"
    @Option(help: "Model name; the repository's default when absent.") var model: String?
    @Option(help: "Classes per image.") var topK = 5
    @Flag(help: "Print PaddleClas's predictor JSON (class_ids, scores, label_names, file_name).") var json = false
    @Argument(help: "PNG or JPEG files.") var images: [String]

    func run() throws {
        let local = try LocalModel(models: models, name: model, maxBatch: 1)
        var results: [Classification] = []
        for path in images {
            let probabilities = local.probabilities([try local.tensor(path)])[0]
            let ids = Classify.topK(probabilities, k: topK)
            results.append(Classification(classIDs: ids, scores: ids.map { probabilities[$0] },
                                          labelNames: local.model.labels.isEmpty ? [] : ids.map { local.model.labels[$0] }))
        }
        printResults(results, files: images, json: json)
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Top-1 and top-5 accuracy of a model on a labelled list (PaddleClas's format: `relative/path label` per line)."
    )

    @Option(help: "The model repository.") var models = "models"
    @Option(help: "Model name; the repository's default when absent.") var model: String?
    @Option(help: "The list file.") var list: String
    @Option(help: "Directory the list's paths are relative to; the list's own directory when absent.") var root: String?
    @Option(help: "Images per forward pass.") var batch = 16
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let local = try LocalModel(models: models, name: model, maxBatch: batch)
        guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { throw ValidationError("cannot read '\(list)'") }
        let base = root ?? URL(fileURLWithPath: list).deletingLastPathComponent().path
        let entries = try text.split(whereSeparator: \.isNewline).map { line -> (String, Int) in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let label = Int(parts.last!) else { throw ValidationError("bad list line: '\(line)'") }
            return (base + "/" + parts.dropLast().joined(separator: " "), label)
        }
        guard !entries.isEmpty else { throw ValidationError("'\(list)' lists no images") }
        let showProgress = isatty(STDERR_FILENO) == 1 && !json
        var top1 = 0, top5 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for chunkStart in stride(from: 0, to: entries.count, by: batch) {
            let chunk = entries[chunkStart..<min(chunkStart + batch, entries.count)]
            let probabilities = local.probabilities(try chunk.map { try local.tensor($0.0) })
            for (p, (_, label)) in zip(probabilities, chunk) {
                let best = Classify.topK(p, k: 5)
                if best.first == label { top1 += 1 }
                if best.contains(label) { top5 += 1 }
            }
            if showProgress { progress(done: chunkStart + chunk.count, total: entries.count) }
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let n = Double(entries.count)
        if json {
            print(#"{"images": \#(entries.count), "top1": \#(Double(top1) / n), "top5": \#(Double(top5) / n), "images_per_second": \#(n / seconds)}"#)
        } else {
            print(String(format: "%@: %d images, top-1 %.4f (%d), top-5 %.4f (%d), %.1f images/s",
                         local.model.name, entries.count, Double(top1) / n, top1, Double(top5) / n, top5, n / seconds))
        }
    }

    private func progress(done: Int, total: Int) {
        let width = 40, filled = width * done / total
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }
}
