import ArgumentParser
import Foundation
import TNTInference
import TNTModel

/// `tnt finetune`: a linear probe. The base model's backbone computes each image's features
/// once; a new softmax-regression head is trained on them (L-BFGS, weight decay, early stopping
/// on the held-out images) and written with the backbone as a new model folder.
struct FinetuneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train a new classifier head for your own classes on a model's features (a linear probe); write a new model folder.",
        discussion: "docs/FINETUNING.md says when a linear probe is enough and what the numbers mean."
    )

    @Option(help: "The base model folder (with model.json).") var base: String
    @Option(help: "Training images: a folder of class folders (FOLDER/<class>/*.png|jpg), or a PaddleClas list file ('path label' per line).")
    var data: String
    @Option(help: "Where the new model folder goes (put it in a server's repository and reload to serve it).") var out: String
    @Option(help: "With a list file: the folder its paths are relative to (the list's own folder when absent).") var root: String?
    @Option(help: "With a list file: class names, one per line, by label.") var classNames: String?
    @Option(help: "Held-out images as a list file; when absent, a stratified part of --data is held out.") var heldOut: String?
    @Option(help: "The part of each class held out when --held-out is absent.") var heldOutFraction = 0.2
    @Option(help: "Seed of the held-out split.") var seed: UInt64 = 1
    @Option(help: "L2 weight decay λ on the head (mean loss + λ/2·‖W‖²); 1/N (scikit-learn's C = 1) when absent.") var weightDecay: Double?
    @Option(help: "Most L-BFGS iterations.") var maxIterations = 500
    @Option(help: "Iterations without a better held-out loss before stopping.") var patience = 20
    @Option(help: "Images per forward pass while computing features.") var batch = 16
    @Option(help: "Also write the features and labels as .npy files into this folder (train_features.npy, train_labels.npy, held_out_...).")
    var saveFeatures: String?

    func run() async throws {
        let classifier = try TNTClassifier(directory: base, maxBatch: batch)
        var images = try labelledImages()
        guard images.classNames.count >= 2 else { throw ValidationError("'\(data)' holds \(images.classNames.count) class; training needs at least two") }
        let held: LabelledImages
        if let heldOut {
            held = try LabelledImages(list: heldOut, names: images.classNames)
        } else {
            (images, held) = images.split(heldOutFraction: heldOutFraction, seed: seed)
        }
        guard held.entries.allSatisfy({ $0.label < images.classNames.count }) else {
            throw ValidationError("--held-out has labels beyond the \(images.classNames.count) classes of --data")
        }
        let featureStart = ContinuousClock.now
        let total = images.entries.count + held.entries.count
        let trainSamples = try await features(of: images, classifier, done: 0, total: total)
        let heldSamples = try await features(of: held, classifier, done: images.entries.count, total: total)
        let featureSeconds = (ContinuousClock.now - featureStart) / .seconds(1)
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
        if let saveFeatures { try save(trainSamples, heldSamples, to: saveFeatures, width: classifier.model.config.embedDim) }

        let settings = {
            var s = SoftmaxRegression.Settings(weightDecay: weightDecay ?? 1 / Double(max(trainSamples.count, 1)))
            s.maxIterations = maxIterations
            s.patience = patience
            return s
        }()
        let trainStart = ContinuousClock.now
        let (head, report) = SoftmaxRegression.train(trainSamples, heldOut: heldSamples, classes: images.classNames.count, settings: settings)
        let trainSeconds = (ContinuousClock.now - trainStart) / .seconds(1)
        let trainAccuracy = accuracy(head, trainSamples)
        let heldAccuracy = accuracy(head, heldSamples)
        let record = TrainingRecord(
            base: base, data: data, heldOut: heldOut ?? "stratified \(heldOutFraction) of --data, seed \(seed)",
            classes: images.classNames, trainImages: trainSamples.count, heldOutImages: heldSamples.count,
            settings: settings, report: report, trainTop1: trainAccuracy.top1, heldOutTop1: heldAccuracy.top1, heldOutTop5: heldAccuracy.top5,
            featuresPerSecond: Double(total) / featureSeconds, featureSeconds: featureSeconds, trainingSeconds: trainSeconds)
        try classifier.model.write(head: head, classNames: images.classNames, to: out, training: record)
        print(String(format: "%@: %d classes, %d training and %d held-out images; held-out top-1 %.4f, top-5 %.4f (train top-1 %.4f); %d iterations (%@); features %.1f images/s, training %.2f s",
                     out, images.classNames.count, trainSamples.count, heldSamples.count, heldAccuracy.top1, heldAccuracy.top5,
                     trainAccuracy.top1, report.iterations, report.stopped, record.featuresPerSecond, trainSeconds))
    }

    private func labelledImages() throws -> LabelledImages {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) else { throw ValidationError("no file or folder '\(data)'") }
        if isDirectory.boolValue { return try LabelledImages(folder: data) }
        let names = try classNames.map { path -> [String] in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read '\(path)'") }
            return text.split(whereSeparator: \.isNewline).map(String.init)
        }
        return try LabelledImages(list: data, root: root, names: names)
    }

    /// Each image's features (all threads, `batch` at a time), with a progress bar on a terminal.
    private func features(of images: LabelledImages, _ classifier: TNTClassifier, done: Int, total: Int) async throws -> SoftmaxRegression.Samples {
        var rows: [Double] = []
        rows.reserveCapacity(images.entries.count * classifier.model.config.embedDim)
        for start in stride(from: 0, to: images.entries.count, by: batch) {
            let chunk = images.entries[start..<min(start + batch, images.entries.count)]
            let predictions = try await classifier.classify(try chunk.map { try readImage($0.path) }, topK: 1, outputs: .features)
            for prediction in predictions { rows += prediction.features.map(Double.init) }
            if isatty(STDERR_FILENO) == 1 { progress("features ", done: done + start + chunk.count, total: total) }
        }
        return SoftmaxRegression.Samples(rows: rows, labels: images.entries.map(\.label))
    }

    private func accuracy(_ head: SoftmaxRegression, _ samples: SoftmaxRegression.Samples) -> (top1: Double, top5: Double) {
        guard samples.count > 0 else { return (0, 0) }
        let logits = head.logits(samples.rows, count: samples.count)
        var top1 = 0, top5 = 0
        for (r, label) in samples.labels.enumerated() {
            let row = Array(logits[r * head.classes..<(r + 1) * head.classes])
            // Rank = how many classes score above the true one (ties to the lower id, as Classify.topK).
            let rank = row.indices.filter { row[$0] > row[label] || (row[$0] == row[label] && $0 < label) }.count
            if rank == 0 { top1 += 1 }
            if rank < 5 { top5 += 1 }
        }
        return (Double(top1) / Double(samples.count), Double(top5) / Double(samples.count))
    }

    private func save(_ train: SoftmaxRegression.Samples, _ held: SoftmaxRegression.Samples, to folder: String, width: Int) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, samples) in [("train", train), ("held_out", held)] {
            try NPYArray(shape: [samples.count, width], values: samples.rows.map { Float($0) }).write(to: "\(folder)/\(name)_features.npy")
            try NPYArray(shape: [samples.count], values: samples.labels.map { Float($0) }).write(to: "\(folder)/\(name)_labels.npy")
        }
    }
}

/// `training.json` of a fine-tuned model folder.
struct TrainingRecord: Encodable {
    let base: String
    let data: String
    let heldOut: String
    let classes: [String]
    let trainImages: Int
    let heldOutImages: Int
    let settings: SoftmaxRegression.Settings
    let report: SoftmaxRegression.Report
    let trainTop1: Double
    let heldOutTop1: Double
    let heldOutTop5: Double
    let featuresPerSecond: Double
    let featureSeconds: Double
    let trainingSeconds: Double
    let method = "linear probe: softmax regression on the base model's features, L-BFGS, early stopping on the held-out loss"
}
