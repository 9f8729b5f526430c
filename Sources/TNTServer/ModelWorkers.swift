import Foundation
import Logging
import TNTImage
import TNTInference
import TNTModel
import TNTProtocol

/// The worker threads of one model: each takes batches from the model's queue, decodes and
/// preprocesses them (never on an event loop), runs the forward pass and answers the calls.
public final class ModelWorkers: @unchecked Sendable {
    let model: LoadedModel
    let queue: BatchQueue<InferenceItem>
    private let config: ServerConfig
    private let logger: Logger
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    /// Inputs computed so far.
    public let computedInputs = ManagedCounter()
    private let metrics: ServerMetrics.Model

    init(model: LoadedModel, config: ServerConfig, logger: Logger) {
        self.model = model
        self.config = config
        self.logger = logger
        queue = BatchQueue(capacity: config.queueSize)
        let metrics = ServerMetrics.Model(model.name)
        self.metrics = metrics
        queue.onDepthChange = { metrics.queueDepth.record($0) }
    }

    func start() {
        guard let weights = model.weights else { return }
        for i in 0..<config.workers {
            finished.enter()
            let engine = TNTEngine(weights: weights, maxBatch: config.maxBatch, threads: config.threadsPerWorker)
            let thread = Thread { [self] in
                work(engine: engine)
                finished.leave()
            }
            thread.name = "tnt-worker-\(model.name)-\(i)"
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// Stops taking new inputs once the queue is empty and waits for the workers to end.
    func stop() {
        queue.close()
        finished.wait()
        // Each thread's closure holds this object (and its engine, and the model's mapped
        // weights): released here, a retired model's memory goes with it.
        threads.removeAll()
    }

    private func work(engine: TNTEngine) {
        let c = engine.config
        var buffers = engine.makeBuffers()
        while let batch = queue.nextBatch(maxBatch: config.maxBatch, maxDelayNanos: UInt64(config.maxQueueDelayMicros) * 1000) {
            let start = uptimeNanos()
            var pending: [InferenceItem] = []
            for item in batch {
                if item.call.isDone {
                    logger.debug("input not computed: its call is already answered", metadata: ["input": "\(item.index)"])
                    continue
                }
                if let deadline = item.call.deadline, start >= deadline {
                    logger.debug("input not computed: deadline passed in the queue", metadata: ["input": "\(item.index)"])
                    item.call.fail(RPCError(.deadlineExceeded, "deadline passed while queued; not computed"))
                    continue
                }
                pending.append(item)
            }
            let prepared = preprocessAll(pending, config: c, threads: engine.threads)
            var live: [(item: InferenceItem, preprocessNanos: UInt64)] = []
            for (item, outcome) in zip(pending, prepared) {
                switch outcome.result {
                case .success(let tensor):
                    buffers.setInput(live.count, tensor)
                    live.append((item, outcome.nanos))
                case .failure(let error):
                    item.call.fail(RPCError(error.code, "input \(item.index): \(error.message)"))
                }
            }
            guard !live.isEmpty else { continue }
            let computeStart = uptimeNanos()
            engine.run(&buffers, batch: live.count)
            let computeNanos = uptimeNanos() - computeStart
            computedInputs.add(live.count)
            metrics.batchSize.record(live.count)
            metrics.computeTime.recordNanoseconds(Int64(computeNanos))
            metrics.inputs.increment(by: live.count)
            for (k, entry) in live.enumerated() {
                let request = entry.item.call.request
                let row = buffers.logits(of: k)
                let ranking = Classify.rank(row, k: entry.item.call.topK, labels: model.labels)
                let result = Classification(
                    classIDs: ranking.classIDs, scores: ranking.scores, labelNames: ranking.labelNames,
                    probabilities: request.returnProbabilities ? ranking.probabilities : [],
                    logits: request.returnLogits ? row : [],
                    features: request.returnFeatures ? buffers.features(of: k) : [],
                    timings: Timings(queueMicros: (start - entry.item.enqueued) / 1000, preprocessMicros: entry.preprocessNanos / 1000,
                                     computeMicros: computeNanos / 1000, batchSize: live.count))
                metrics.queueTime.recordNanoseconds(Int64(start - entry.item.enqueued))
                metrics.preprocessTime.recordNanoseconds(Int64(entry.preprocessNanos))
                entry.item.call.complete(index: entry.item.index, with: result)
            }
        }
    }

    /// Decodes and preprocesses a batch's inputs on `threads` threads, in order.
    private func preprocessAll(_ items: [InferenceItem], config c: TNTConfig, threads: Int)
        -> [(result: Result<[Float], RPCError>, nanos: UInt64)] {
        let results = PreprocessResults(count: items.count)
        DispatchQueue.concurrentPerform(iterations: min(threads, max(items.count, 1))) { part in
            for k in stride(from: part, to: items.count, by: threads) {
                let t0 = uptimeNanos()
                let result: Result<[Float], RPCError>
                do {
                    result = .success(try preprocess(items[k], config: c))
                } catch let error as RPCError {
                    result = .failure(error)
                } catch {
                    result = .failure(RPCError(.invalidArgument, "\(error)"))
                }
                results.set(k, (result, uptimeNanos() - t0))
            }
        }
        return results.values
    }

    private func preprocess(_ item: InferenceItem, config c: TNTConfig) throws -> [Float] {
        let limits = config.decodeLimits
        switch item.call.request.inputs[item.index] {
        case .encodedImage(let bytes):
            return try LargeDecodeGate.shared.run(declaredPixels: item.declaredPixels) {
                try Preprocessor.tensor(try ImageDecoder.decode(bytes, limits: limits), config: model.preprocess, limits: limits)
            }
        case .rgb(let width, let height, let pixels):
            do {
                try ImageDecoder.checkSize(width: width, height: height, encodedBytes: nil, limits: limits)
            } catch {
                throw RPCError(.invalidArgument, "rgb image: \(error)")
            }
            guard pixels.count == width * height * 3 else {
                throw RPCError(.invalidArgument, "rgb image of \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
            }
            return try Preprocessor.tensor(RGBImage(width: width, height: height, pixels: pixels), config: model.preprocess, limits: limits)
        case .tensor(let shape, let data):
            let expected = [c.inChans, c.imgSize, c.imgSize]
            guard shape == expected || shape == [1] + expected else {
                let shown = shape.count <= 8 ? "\(shape)" : "of \(shape.count) dimensions"
                throw RPCError(.invalidArgument, "tensor shape \(shown) is not \(expected)")
            }
            guard data.count == c.inputSize else {
                throw RPCError(.invalidArgument, "tensor holds \(data.count) values; shape \(expected) needs \(c.inputSize)")
            }
            if let bad = data.firstIndex(where: { !$0.isFinite }) {
                throw RPCError(.invalidArgument, "tensor value \(bad) is \(data[bad]); every value must be finite")
            }
            return data
        }
    }
}

/// Large images are decoded one at a time across the server: each costs 3 bytes per pixel
/// while it is decoded (up to 48 MiB at the default pixel limit), so that however many
/// arrive at once, the decoding memory stays one large image plus the small ones.
final class LargeDecodeGate: @unchecked Sendable {
    static let shared = LargeDecodeGate()
    /// Above this many pixels (4 Mpx, 12 MiB decoded) an image waits for the gate.
    static let largePixels = 4 << 20
    private let lock = NSLock()

    func run<T>(declaredPixels: Int, _ body: () throws -> T) rethrows -> T {
        guard declaredPixels > Self.largePixels else { return try body() }
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// One slot per input of a batch, each written by the one thread that preprocesses it.
private final class PreprocessResults: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [(result: Result<[Float], RPCError>, nanos: UInt64)?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ k: Int, _ value: (result: Result<[Float], RPCError>, nanos: UInt64)) { lock.withLock { slots[k] = value } }

    var values: [(result: Result<[Float], RPCError>, nanos: UInt64)] { lock.withLock { slots.map { $0! } } }
}

/// A counter shared across threads.
public final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    public var current: Int { lock.withLock { value } }

    func add(_ n: Int) { lock.withLock { value += n } }
}
