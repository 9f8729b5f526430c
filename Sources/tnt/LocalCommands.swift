import ArgumentParser
import Foundation
import TNTImage
import TNTInference
import TNTModel
import TNTProtocol
import TNTServer

/// A model of a repository loaded in this process: `DIR/NAME`, or the repository's default
/// (the first model by name that loads), as the server picks it.
func localClassifier(models: String, name: String?, maxBatch: Int) throws -> TNTClassifier {
    let names = ModelRepository.modelNames(in: models)
    func announce(_ classifier: TNTClassifier) -> TNTClassifier {
        reportFallback(classifier.kernels)
        return classifier
    }
    if let name {
        guard names.contains(name) else { throw ValidationError("no model '\(name)' in \(models); models: \(names.joined(separator: ", "))") }
        return announce(try TNTClassifier(directory: models + "/" + name, maxBatch: maxBatch))
    }
    for candidate in names {
        if let loaded = try? TNTClassifier(directory: models + "/" + candidate, maxBatch: maxBatch) { return announce(loaded) }
    }
    throw ValidationError("no model in \(models) loads; models: \(names.joined(separator: ", "))")
}

/// The bytes of an image file, or an error naming it.
func readImage(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
    return [UInt8](data)
}

struct ClassifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify images in this process (no server), as PaddleClas's predictor reports them."
    )

    @Option(help: "The model repository.") var models = "models"
    @Option(help: "Model name; the repository's default when absent.") var model: String?
    @Option(help: "Classes per image.") var topK = 5
    @Flag(help: "Print PaddleClas's predictor JSON (class_ids, scores, label_names, file_name).") var json = false
    @Argument(help: "PNG or JPEG files.") var images: [String]

    func run() async throws {
        let classifier = try localClassifier(models: models, name: model, maxBatch: 1)
        var results: [Classification] = []
        // One image at a time, each computed alone: the bits the server gives a lone call.
        for path in images {
            let top = try await classifier.classify(try readImage(path), topK: topK)
            results.append(Classification(classIDs: top.classIDs, scores: top.scores, labelNames: top.labelNames))
        }
        printResults(results, files: images, json: json)
    }
}

struct EvalCommand: AsyncParsableCommand {
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

    func run() async throws {
        let classifier = try localClassifier(models: models, name: model, maxBatch: batch)
        let entries = try LabelledImages(list: list, root: root).entries.map { ($0.path, $0.label) }
        guard !entries.isEmpty else { throw ValidationError("'\(list)' lists no images") }
        let showProgress = isatty(STDERR_FILENO) == 1 && !json
        var top1 = 0, top5 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for chunkStart in stride(from: 0, to: entries.count, by: batch) {
            let chunk = entries[chunkStart..<min(chunkStart + batch, entries.count)]
            let predictions = try await classifier.classify(try chunk.map { try readImage($0.0) }, topK: 5)
            for (prediction, (_, label)) in zip(predictions, chunk) {
                let best = prediction.classIDs
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
                         classifier.model.name, entries.count, Double(top1) / n, top1, Double(top5) / n, top5, n / seconds))
        }
    }
}

/// Redraws a progress bar on standard error (a terminal): `label [====    ] done/total`.
func progress(_ label: String = "", done: Int, total: Int) {
    let width = 40, filled = width * done / max(total, 1)
    let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
    FileHandle.standardError.write(Data("\r\(label)[\(bar)] \(done)/\(total)".utf8))
}
