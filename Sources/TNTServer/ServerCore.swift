import Foundation
import Logging
import NIOCore
import TNTModel
import TNTProtocol

/// What all connections share: the models, their workers, the calls in flight, and the
/// lifecycle state (serving, draining).
public final class ServerCore: @unchecked Sendable {
    public let config: ServerConfig
    /// The models being served and their workers; replaced as a whole by `reload()`.
    struct ServingState {
        var models: [String: LoadedModel]
        var workers: [String: ModelWorkers]

        /// The model a call with no model name gets: the first ready one by name.
        var defaultModel: String? { models.keys.sorted().first { models[$0]!.isReady } }
        var infos: [ModelInfo] { models.keys.sorted().map { models[$0]!.info } }
    }

    private var state: ServingState
    private let reloadLock = NSLock()

    var serving: ServingState { lock.withLock { state } }
    public let logger: Logger
    private let lock = NSLock()
    private var draining = false
    private var inFlight = 0
    private var connections: [ObjectIdentifier: (channel: Channel, peer: String)] = [:]
    private var connectionsPerPeer: [String: Int] = [:]

    /// The OpenBLAS kernels the workers run, chosen and checked before any of them starts.
    public let kernels: KernelSelection
    /// TLS and token authentication.
    public let security: ServerSecurity

    public init(config: ServerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        security = try ServerSecurity(config: config, logger: logger)
        let repository = try ModelRepository(directory: config.modelsDirectory)
        // The presets are checked too, so that a model added by a reload is covered.
        let configs = repository.models.values.compactMap { $0.weights?.config } + [.tntSmall, .tntBase]
        do {
            kernels = try BLASKernels.selectAndCheck(configs: configs)
        } catch {
            logger.critical("OpenBLAS kernel self-check failed; not serving", metadata: ["error": "\(error)"])
            throw error
        }
        Self.log(kernels, logger)
        var workers: [String: ModelWorkers] = [:]
        for (name, model) in repository.models where model.isReady {
            workers[name] = ModelWorkers(model: model, config: config, logger: logger)
        }
        state = ServingState(models: repository.models, workers: workers)
        ServerMetrics.modelsLoaded.record(workers.count)
        for model in repository.models.values { log(model.info) }
        for worker in workers.values { worker.start() }
    }

    // MARK: Lifecycle

    public var isDraining: Bool { lock.withLock { draining } }
    public var callsInFlight: Int { lock.withLock { inFlight } }

    func callStarted() { ServerMetrics.callsInFlight.record(lock.withLock { inFlight += 1; return inFlight }) }
    func callEnded() { ServerMetrics.callsInFlight.record(lock.withLock { inFlight -= 1; return inFlight }) }

    /// Every model loaded with its workers running, and not draining: what /readyz reports.
    public var isReady: Bool {
        let now = serving
        return !isDraining && now.models.values.allSatisfy(\.isReady) && now.workers.count == now.models.count
    }

    enum Registration { case accepted, refused(String) }

    /// Registers a connection, unless the server or the peer's address is at its limit.
    func register(_ channel: Channel) -> Registration {
        let peer = channel.remoteAddress?.ipAddress ?? "unknown"
        let result: (Registration, Int) = lock.withLock {
            guard connections.count < config.maxConnections else {
                return (.refused("server is at its limit of \(config.maxConnections) connections"), connections.count)
            }
            guard connectionsPerPeer[peer, default: 0] < config.maxConnectionsPerPeer else {
                return (.refused("\(peer) has \(config.maxConnectionsPerPeer) connections open, the limit per address"), connections.count)
            }
            connections[ObjectIdentifier(channel)] = (channel, peer)
            connectionsPerPeer[peer, default: 0] += 1
            return (.accepted, connections.count)
        }
        ServerMetrics.connections.record(result.1)
        if case .refused(let reason) = result.0 {
            ServerMetrics.connectionsRefused.increment()
            logger.notice("connection refused", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        }
        return result.0
    }

    func unregister(_ channel: Channel) {
        ServerMetrics.connections.record(lock.withLock {
            if let (_, peer) = connections.removeValue(forKey: ObjectIdentifier(channel)) {
                connectionsPerPeer[peer, default: 1] -= 1
                if connectionsPerPeer[peer] == 0 { connectionsPerPeer.removeValue(forKey: peer) }
            }
            return connections.count
        })
    }

    /// Stops new calls: every connection gets a GOAWAY and closes once its calls are answered.
    func startDraining() {
        let open: [Channel] = lock.withLock {
            draining = true
            return connections.values.map(\.channel)
        }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain) }
    }

    /// The grace is over: each connection answers its remaining calls UNAVAILABLE and closes.
    func endGrace() {
        for channel in openChannels { channel.pipeline.fireUserInboundEventTriggered(ServerEvent.graceExpired) }
    }

    private var openChannels: [Channel] { lock.withLock { connections.values.map(\.channel) } }

    var openConnections: Int { lock.withLock { connections.count } }

    // MARK: The server-wide buffer budget

    private var bufferedBytes = 0
    private var waitingForRoom: [ObjectIdentifier: Channel] = [:]

    /// Whether connections may read more: what all of them hold is below `maxBufferedBytes`.
    public var hasBufferRoom: Bool { lock.withLock { bufferedBytes < config.maxBufferedBytes } }

    /// A connection's holding changed by `delta` bytes; connections waiting for room are
    /// woken once there is some.
    public func adjustBuffered(by delta: Int) {
        guard delta != 0 else { return }
        let (total, wake): (Int, [Channel]) = lock.withLock {
            bufferedBytes += delta
            guard delta < 0, bufferedBytes < config.maxBufferedBytes, !waitingForRoom.isEmpty else { return (bufferedBytes, []) }
            defer { waitingForRoom.removeAll() }
            return (bufferedBytes, Array(waitingForRoom.values))
        }
        ServerMetrics.bufferedBytes.record(total)
        for channel in wake { channel.pipeline.fireUserInboundEventTriggered(ServerEvent.bufferRoom) }
    }

    /// `channel` paused for lack of room; it gets `ServerEvent.bufferRoom` when there is some.
    public func waitForBufferRoom(_ channel: Channel) {
        let roomAlready: Bool = lock.withLock {
            guard bufferedBytes >= config.maxBufferedBytes else { return true }
            waitingForRoom[ObjectIdentifier(channel)] = channel
            return false
        }
        if roomAlready { channel.pipeline.fireUserInboundEventTriggered(ServerEvent.bufferRoom) }
    }

    func closeAllConnections() {
        for channel in openChannels { channel.close(promise: nil) }
    }

    func stopWorkers() { for worker in serving.workers.values { worker.stop() } }

    private static func log(_ k: KernelSelection, _ logger: Logger) {
        for r in k.rejected {
            logger.warning("OpenBLAS kernel family failed its self-check; falling back to the next",
                           metadata: ["family": "\(r.family)", "reason": "\(r.reason)"])
        }
        if let reason = k.largeProductsRejection {
            logger.warning("the AVX-512 tiles failed their self-check; OpenBLAS computes the large products",
                           metadata: ["reason": "\(reason)"])
        }
        logger.info("OpenBLAS kernels", metadata: [
            "family": "\(k.family)", "source": "\(k.source.rawValue)", "self_check": "\(k.check)",
            "fell_back_from": "\(k.rejected.map(\.family))", "cpu": "\(k.cpu.summary)",
            "large_products": "\(k.largeProducts.rawValue)", "large_products_note": "\(k.largeProductsNote)",
        ])
        ServerMetrics.kernels(k)
    }

    private func log(_ info: ModelInfo) {
        if info.state == .ready {
            logger.info("model loaded", metadata: ["model": "\(info.name)", "architecture": "\(info.architecture)",
                                                   "classes": "\(info.classes)", "parameters": "\(info.parameters)",
                                                   "weights_sha256": "\(info.weightsSHA256)"])
        } else {
            logger.error("model failed to load", metadata: ["model": "\(info.name)", "reason": "\(info.stateReason)"])
        }
    }

    /// Rescans the repository: a new or changed model is loaded beside the one serving and
    /// swapped in only once it has loaded; calls already queued on the old one finish there.
    /// A model that fails to reload keeps its old version serving; a removed one is drained.
    public func reload() {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        let directory = config.modelsDirectory
        let names = ModelRepository.modelNames(in: directory)
        let current = serving
        var loaded: [String: LoadedModel] = [:]
        for name in names {
            let fingerprint = ModelRepository.fingerprint(directory + "/" + name)
            if let old = current.models[name], old.fingerprint == fingerprint { continue }
            let model = LoadedModel.load(name: name, directory: directory + "/" + name)
            log(model.info)
            if !model.isReady, current.models[name]?.isReady == true {
                logger.error("reload failed; the previous version keeps serving", metadata: ["model": "\(name)"])
                continue
            }
            loaded[name] = model
        }
        let removed = Set(current.models.keys).subtracting(names)
        guard !loaded.isEmpty || !removed.isEmpty else { return }
        var started: [String: ModelWorkers] = [:]
        for (name, model) in loaded where model.isReady {
            let worker = ModelWorkers(model: model, config: config, logger: logger)
            worker.start()
            started[name] = worker
        }
        let retired: [ModelWorkers] = lock.withLock {
            var retired: [ModelWorkers] = []
            for (name, model) in loaded {
                state.models[name] = model
                if let old = state.workers.removeValue(forKey: name) { retired.append(old) }
                if let worker = started[name] { state.workers[name] = worker }
            }
            for name in removed {
                state.models.removeValue(forKey: name)
                if let old = state.workers.removeValue(forKey: name) { retired.append(old) }
            }
            return retired
        }
        ServerMetrics.modelsLoaded.record(serving.workers.count)
        logger.info("repository reloaded", metadata: ["loaded": "\(loaded.keys.sorted())", "removed": "\(removed.sorted())"])
        // The old workers finish what their queues hold, then end.
        for worker in retired { Thread.detachNewThread { worker.stop() } }
    }

    // MARK: Calls

    /// Runs one call of an authenticated `caller`; `respond` is called exactly once, from any
    /// thread. Returns the Predict call so that the connection can abandon it (cancel, deadline).
    func dispatch(_ request: RequestEnvelope, caller: Caller, deadline: UInt64?,
                  respond: @escaping @Sendable (ResponseEnvelope) -> Void) -> PredictCall? {
        @Sendable func answer(_ result: Result<[UInt8], RPCError>) {
            switch result {
            case .success(let payload): respond(ResponseEnvelope(status: .ok, payload: payload))
            case .failure(let error): respond(ResponseEnvelope(status: error.code, message: error.message))
            }
        }
        do {
            switch request.method {
            case Method.healthCheck:
                answer(.success(try health(HealthCheckRequest(protobuf: request.payload)).protobuf()))
            case Method.listModels:
                _ = try ListModelsRequest(protobuf: request.payload)
                answer(.success(ListModelsResponse(models: serving.infos.filter { caller.mayCall($0.name) }).protobuf()))
            case Method.getModel:
                let get = try GetModelRequest(protobuf: request.payload)
                try permit(caller, get.name)
                guard let model = serving.models[get.name] else { throw notFound(get.name) }
                answer(.success(model.info.protobuf()))
            case Method.predict:
                return try predict(PredictRequest(protobuf: request.payload), caller: caller, deadline: deadline) { answer($0.map { $0.protobuf() }) }
            default:
                throw RPCError(.unimplemented, "method '\(request.method.clipped)' is not implemented; methods: \(Method.predict), \(Method.listModels), \(Method.getModel), \(Method.healthCheck)")
            }
        } catch {
            answer(.failure(Self.status(of: error, method: request.method)))
        }
        return nil
    }

    /// What a call's error is answered with: an `RPCError` as it is, a message that does not
    /// parse INVALID_ARGUMENT, anything else INTERNAL.
    static func status(of error: any Error, method: String) -> RPCError {
        switch error {
        case let error as RPCError: error
        case let error as MalformedMessage: RPCError(.invalidArgument, "\(error.description) for \(method.clipped)")
        default: RPCError(.internal, "\(error)")
        }
    }

    /// PERMISSION_DENIED unless the caller's token lists the model. Checked before the model
    /// is looked up, so that a token cannot learn which models exist beyond its own.
    private func permit(_ caller: Caller, _ model: String) throws {
        guard caller.mayCall(model) else {
            throw RPCError(.permissionDenied, "the token '\(caller.name)' may not call model '\(model.clipped)'")
        }
    }

    private func notFound(_ name: String) -> RPCError {
        RPCError(.notFound, "model '\(name.clipped)' not found; models: \(serving.models.keys.sorted().joined(separator: ", "))")
    }

    /// grpc.health.v1: "" is the server, a model name that model; an unknown name is NOT_FOUND.
    public func health(_ request: HealthCheckRequest) throws -> HealthCheckResponse {
        if request.service.isEmpty { return HealthCheckResponse(status: isDraining ? .notServing : .serving) }
        guard let model = serving.models[request.service] else { throw notFound(request.service) }
        return HealthCheckResponse(status: model.isReady && !isDraining ? .serving : .notServing)
    }

    func predict(_ request: PredictRequest, caller: Caller = .anyone, deadline: UInt64?,
                 completion: @escaping @Sendable (Result<PredictResponse, RPCError>) -> Void) throws -> PredictCall {
        // A reload may retire the workers between the lookup and the enqueue: look up again.
        while true {
            let now = serving
            let name = request.model.isEmpty ? now.defaultModel ?? "" : request.model
            if !name.isEmpty { try permit(caller, name) }
            guard let model = now.models[name] else {
                throw request.model.isEmpty ? RPCError(.unavailable, "no model is ready to serve") : notFound(name)
            }
            guard model.isReady, let worker = now.workers[name] else {
                throw RPCError(.failedPrecondition, "model '\(name)' failed to load: \(model.info.stateReason)")
            }
            guard !request.inputs.isEmpty else { throw RPCError(.invalidArgument, "Predict needs at least one input") }
            guard request.inputs.count <= config.maxInputsPerCall else {
                throw RPCError(.invalidArgument, "\(request.inputs.count) inputs in one call; the limit is \(config.maxInputsPerCall)")
            }
            let pixels = request.inputs.map(\.declaredPixels)
            let declared = pixels.reduce(0) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }
            guard declared <= config.maxCallPixels else {
                throw RPCError(.invalidArgument, "the call's images declare \(declared) pixels together, above the limit of \(config.maxCallPixels) per call (--max-call-pixels); split the call")
            }
            guard request.inputs.count <= config.queueSize else {
                // It could never be queued: not a transient overload, so not UNAVAILABLE.
                throw RPCError(.invalidArgument, "\(request.inputs.count) inputs in one call, more than the model's whole queue (\(config.queueSize) inputs); split the call")
            }
            let call = PredictCall(request: request, model: model, deadline: deadline, completion: completion)
            let enqueued = uptimeNanos()
            switch worker.queue.enqueue(request.inputs.indices.map { InferenceItem(call: call, index: $0, enqueued: enqueued, declaredPixels: pixels[$0]) }) {
            case .accepted:
                return call
            case .closed:
                continue
            case .full:
                // Not processed, so safe to retry elsewhere: UNAVAILABLE (see docs/PROTOCOL.md).
                throw RPCError(.unavailable, "model '\(name)' is overloaded: its queue holds \(worker.queue.count) of \(config.queueSize) inputs; retry with backoff")
            }
        }
    }
}

/// Events the server sends into connection pipelines.
public enum ServerEvent: Sendable {
    /// Shutting down: GOAWAY, answer the calls in flight, close.
    case drain
    /// The shutdown grace is over: answer the remaining calls UNAVAILABLE now, close.
    case graceExpired
    /// The server-wide buffer budget has room again: a connection paused for it may read.
    case bufferRoom
}

/// An answered call, as metrics and the access log see it.
struct CallRecord {
    let method: String
    /// The token's name; "" before authentication.
    let caller: String
    let status: StatusCode
    let seconds: Double
    let peer: String
    let stream: String
    /// "native" or "grpc".
    let protocolName: String
}

extension ServerCore {
    /// Metrics, and the access log line, of an answered call.
    func record(_ call: CallRecord) {
        // With tokens on, every call is labelled with who made it; refused before that was known: anonymous.
        let who = security.authenticates ? (call.caller.isEmpty ? "anonymous" : call.caller) : nil
        ServerMetrics.call(method: call.method, status: call.status, seconds: call.seconds, protocolName: call.protocolName, caller: who)
        guard config.accessLog else { return }
        var metadata: Logger.Metadata = [
            "method": "\(call.method.clipped)", "status": "\(call.status.name)", "ms": "\(String(format: "%.3f", call.seconds * 1000))",
            "peer": "\(call.peer)", "stream": "\(call.stream)", "protocol": "\(call.protocolName)",
        ]
        if let who { metadata["caller"] = "\(who)" }
        logger.info("call", metadata: metadata)
    }
}
