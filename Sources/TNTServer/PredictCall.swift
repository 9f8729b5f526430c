import Foundation
import TNTImage
import TNTInference
import TNTProtocol

func uptimeNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A Predict call in flight: its inputs are computed separately (perhaps in different
/// batches) and the call completes once, when the last finishes or the first fails.
public final class PredictCall: @unchecked Sendable {
    let request: PredictRequest
    let model: LoadedModel
    /// Uptime in nanoseconds after which the call must not be computed.
    let deadline: UInt64?
    private let completion: @Sendable (Result<PredictResponse, RPCError>) -> Void
    private let lock = NSLock()
    private var results: [Classification?]
    private var remaining: Int
    private var done = false

    init(request: PredictRequest, model: LoadedModel, deadline: UInt64?,
         completion: @escaping @Sendable (Result<PredictResponse, RPCError>) -> Void) {
        self.request = request
        self.model = model
        self.deadline = deadline
        self.completion = completion
        results = Array(repeating: nil, count: request.inputs.count)
        remaining = request.inputs.count
    }

    /// Finished, failed, cancelled or expired: nothing more to compute.
    var isDone: Bool { lock.withLock { done } }

    var topK: Int { request.topK == 0 ? 5 : request.topK }

    func complete(index: Int, with result: Classification) {
        let response: PredictResponse? = lock.withLock {
            guard !done else { return nil }
            results[index] = result
            remaining -= 1
            guard remaining == 0 else { return nil }
            done = true
            return PredictResponse(model: model.name, results: results.map { $0! })
        }
        if let response { completion(.success(response)) }
    }

    func fail(_ error: RPCError) {
        let first: Bool = lock.withLock {
            defer { done = true }
            return !done
        }
        if first { completion(.failure(error)) }
    }

    /// Marks the call done without answering: its caller has answered already (cancelled or
    /// deadline exceeded) and its inputs must not be computed.
    func abandon() { lock.withLock { done = true } }
}

/// One input of a call waiting for a worker.
struct InferenceItem: BatchQueueItem, @unchecked Sendable {
    let call: PredictCall
    let index: Int
    let enqueued: UInt64
    /// What the input's header declares, read once when the call arrived.
    var declaredPixels = 0
}

extension PredictInput {
    /// The pixels decoding this input costs, as its header (or message) declares them.
    var declaredPixels: Int {
        switch self {
        case .encodedImage(let bytes): ImageDecoder.declaredPixels(bytes)
        case .rgb(let width, let height, _): ImageDecoder.pixels(width: width, height: height)
        case .tensor: 0
        }
    }
}
