import Foundation
import TNTImage
import TNTModel

/// A model folder loaded in this process, classifying images as `tnt-server` does: the same
/// loader, preprocessing and forward pass, so the same image gives the same bits here, in
/// `tnt classify` and from the server.
///
/// Safe to call from many tasks at once: each call decodes and preprocesses its images on its
/// own task, then the images of concurrent calls are computed together in batches of up to
/// `maxBatch` (the first image waits at most `maxDelay` for company), on one worker thread whose
/// forward pass spans `threads` threads.
///
/// ```swift
/// let model = try TNTClassifier(directory: "models/digits")
/// let top = try await model.classify(pngBytes, topK: 5)
/// print(top.classIDs, top.scores, top.labelNames)
/// ```
public final class TNTClassifier: Sendable {
    /// The loaded folder: name, architecture, labels, preprocessing, weights.
    public let model: ModelFolder
    /// The OpenBLAS kernels chosen for this CPU when the process first needed them, checked on
    /// this model's products.
    public let kernels: KernelSelection
    /// Limits on the images accepted (encoded bytes, pixels, decompression bombs).
    public let limits: DecodeLimits
    private let batches: BatchRunner

    /// Loads `directory` (a folder with `model.json`, as the server's repository holds).
    /// - Parameters:
    ///   - threads: the forward pass's threads; every core this process may use by default.
    ///   - maxBatch: the most images computed together.
    ///   - maxDelay: how long the first image of a batch waits for others.
    /// - Throws: ``TNTClassifierError/model(_:)`` when the folder does not load,
    ///   ``TNTClassifierError/kernels(_:)`` when no OpenBLAS kernel family computes correctly.
    public init(directory: String, threads: Int = CPUBudget.cores, maxBatch: Int = 8,
                maxDelay: Duration = .milliseconds(2), limits: DecodeLimits = DecodeLimits()) throws(TNTClassifierError) {
        precondition(threads > 0 && maxBatch > 0, "threads and maxBatch must be positive")
        do {
            model = try ModelFolder(directory: directory)
        } catch {
            throw .model("\(error)")
        }
        kernels = try Self.selectKernels(model.config)
        self.limits = limits
        batches = BatchRunner(engine: TNTEngine(weights: model.weights, maxBatch: maxBatch, threads: threads), maxDelay: maxDelay)
    }

    deinit { batches.close() }

    /// The process's kernels (selected by the first classifier or engine), checked on this
    /// model's products and the presets' (as the server does).
    private static func selectKernels(_ config: TNTConfig) throws(TNTClassifierError) -> KernelSelection {
        do {
            return try BLASKernels.selectAndCheck(configs: [config, .tntSmall, .tntBase])
        } catch {
            throw .kernels("\(error)")
        }
    }

    /// Classifies one encoded image (PNG or JPEG).
    /// - Parameters:
    ///   - topK: how many classes to return, best first (at most the model's classes).
    ///   - outputs: whole probability, logit or feature vectors to return too.
    /// - Throws: ``TNTClassifierError/image(_:)`` for bytes that are not a usable image.
    public func classify(_ image: [UInt8], topK: Int = 5, outputs: Outputs = []) async throws(TNTClassifierError) -> Prediction {
        try await classify(tensor: preprocessed(image), topK: topK, outputs: outputs)
    }

    /// Classifies several encoded images; one ``Prediction`` per image, in order.
    public func classify(_ images: [[UInt8]], topK: Int = 5, outputs: Outputs = []) async throws(TNTClassifierError) -> [Prediction] {
        let tensors = try images.map { image throws(TNTClassifierError) in try preprocessed(image) }
        return await batches.compute(tensors).map { prediction($0, topK: topK, outputs: outputs) }
    }

    /// Classifies one preprocessed tensor, `[in_chans, img_size, img_size]` floats as the
    /// preprocessing makes them.
    public func classify(tensor: [Float], topK: Int = 5, outputs: Outputs = []) async throws(TNTClassifierError) -> Prediction {
        guard tensor.count == model.config.inputSize else {
            throw .input("a tensor of \(tensor.count) values; the model takes \(model.config.inChans)×\(model.config.imgSize)×\(model.config.imgSize) = \(model.config.inputSize)")
        }
        return prediction(await batches.compute([tensor])[0], topK: topK, outputs: outputs)
    }

    /// The float32 tensor the model would receive for an encoded image.
    public func preprocessed(_ image: [UInt8]) throws(TNTClassifierError) -> [Float] {
        do {
            return try Preprocessor.tensor(try ImageDecoder.decode(image, limits: limits), config: model.preprocess, limits: limits)
        } catch {
            throw .image("\(error)")
        }
    }

    private func prediction(_ row: BatchRunner.Row, topK: Int, outputs: Outputs) -> Prediction {
        let ranking = Classify.rank(row.logits, k: topK, labels: model.labels)
        return Prediction(classIDs: ranking.classIDs, scores: ranking.scores, labelNames: ranking.labelNames,
                          probabilities: outputs.contains(.probabilities) ? ranking.probabilities : [],
                          logits: outputs.contains(.logits) ? row.logits : [],
                          features: outputs.contains(.features) ? row.features : [])
    }

    /// Whole vectors a ``Prediction`` may carry besides its top classes.
    public struct Outputs: OptionSet, Sendable {
        public let rawValue: Int
        /// An option set of the values below.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Softmax probabilities of every class.
        public static let probabilities = Outputs(rawValue: 1)
        /// The head's outputs before softmax.
        public static let logits = Outputs(rawValue: 2)
        /// The class token after the final LayerNorm: what the head reads (`embed_dim` values).
        public static let features = Outputs(rawValue: 4)
    }
}

/// One image's classification, with the fields of `TNTClient`'s results.
public struct Prediction: Sendable, Equatable {
    /// The best classes, best first; equal scores in ascending id order.
    public let classIDs: [Int]
    /// Their softmax probabilities.
    public let scores: [Float]
    /// Their labels, when the model folder has a label file.
    public let labelNames: [String]
    /// Every class's probability, when asked for with ``TNTClassifier/Outputs/probabilities``.
    public let probabilities: [Float]
    /// Every class's logit, when asked for with ``TNTClassifier/Outputs/logits``.
    public let logits: [Float]
    /// The image's feature vector, when asked for with ``TNTClassifier/Outputs/features``.
    public let features: [Float]
}

/// Why a ``TNTClassifier`` could not load or classify.
public enum TNTClassifierError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The model folder does not load: what is wrong, naming the file.
    case model(String)
    /// No OpenBLAS kernel family gave correct results on this CPU (or the one named in
    /// `OPENBLAS_CORETYPE` did not).
    case kernels(String)
    /// The bytes are not a PNG or JPEG this classifier accepts (corrupt, too large, a bomb).
    case image(String)
    /// A tensor of the wrong size.
    case input(String)

    /// The case and its reason, in one line.
    public var description: String {
        switch self {
        case .model(let why): "model: \(why)"
        case .kernels(let why): "OpenBLAS kernels: \(why)"
        case .image(let why): "image: \(why)"
        case .input(let why): "input: \(why)"
        }
    }
}
