import Foundation
import Logging
import NIOCore
import TNTModel
import TNTProtocol

/// What all connections share: the models, their workers, the calls in flight, and the
/// lifecycle state (serving, draining).
public final class ServerCore: @unchecked Sendable {
    public let config: ServerConfig
    public let repository: ModelRepository
    public let workers: [String: ModelWorkers]
    let logger: Logger
    private let lock = NSLock()
    private var draining = false
    private var inFlight = 0
    private var connections: [ObjectIdentifier: Channel] = [:]

    public init(config: ServerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        repository = try ModelRepository(directory: config.modelsDirectory)
        var workers: [String: ModelWorkers] = [:]
        for (name, model) in repository.models where model.isReady {
            workers[name] = ModelWorkers(model: model, config: config, logger: logger)
        }
        self.workers = workers
        ServerMetrics.modelsLoaded.record(workers.count)
        for info in repository.infos {
            if info.state == .ready {
                logger.info("model loaded", metadata: ["model": "\(info.name)", "architecture": "\(info.architecture)",
                                                       "classes": "\(info.classes)", "parameters": "\(info.parameters)"])
            } else {
                logger.error("model failed to load", metadata: ["model": "\(info.name)", "reason": "\(info.stateReason)"])
            }
        }
        for worker in workers.values { worker.start() }
    }

    // MARK: Lifecycle

    public var isDraining: Bool { lock.withLock { draining } }
    public var callsInFlight: Int { lock.withLock { inFlight } }

    func callStarted() { ServerMetrics.callsInFlight.record(lock.withLock { inFlight += 1; return inFlight }) }
    func callEnded() { ServerMetrics.callsInFlight.record(lock.withLock { inFlight -= 1; return inFlight }) }

    /// Every model loaded with its workers running, and not draining: what /readyz reports.
    public var isReady: Bool {
        !isDraining && repository.models.values.allSatisfy(\.isReady) && workers.count == repository.models.count
    }

    /// Registers a connection; false when the server is at its connection limit.
    func register(_ channel: Channel) -> Bool {
        let count: Int? = lock.withLock {
            guard connections.count < config.maxConnections else { return nil }
            connections[ObjectIdentifier(channel)] = channel
            return connections.count
        }
        if let count { ServerMetrics.connections.record(count) }
        return count != nil
    }

    func unregister(_ channel: Channel) {
        ServerMetrics.connections.record(lock.withLock {
            connections.removeValue(forKey: ObjectIdentifier(channel))
            return connections.count
        })
    }

    /// Stops new calls: every connection gets a GOAWAY and closes once its calls are answered.
    func startDraining() {
        let open: [Channel] = lock.withLock {
            draining = true
            return Array(connections.values)
        }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain) }
    }

    func closeAllConnections() {
        let open = lock.withLock { Array(connections.values) }
        for channel in open { channel.close(promise: nil) }
    }

    func stopWorkers() { for worker in workers.values { worker.stop() } }

    // MARK: Calls

    /// Runs one call; `respond` is called exactly once, from any thread. Returns the Predict
    /// call so that the connection can abandon it (cancel, deadline).
    func dispatch(_ request: RequestEnvelope, deadline: UInt64?,
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
                answer(.success(ListModelsResponse(models: repository.infos).protobuf()))
            case Method.getModel:
                let get = try GetModelRequest(protobuf: request.payload)
                guard let model = repository.models[get.name] else { throw notFound(get.name) }
                answer(.success(model.info.protobuf()))
            case Method.predict:
                return try predict(PredictRequest(protobuf: request.payload), deadline: deadline) { answer($0.map { $0.protobuf() }) }
            default:
                throw RPCError(.unimplemented, "method '\(request.method)' is not implemented; methods: \(Method.predict), \(Method.listModels), \(Method.getModel), \(Method.healthCheck)")
            }
        } catch let error as RPCError {
            answer(.failure(error))
        } catch let error as MalformedMessage {
            answer(.failure(RPCError(.invalidArgument, "\(error.description) for \(request.method)")))
        } catch {
            answer(.failure(RPCError(.internal, "\(error)")))
        }
        return nil
    }

    private func notFound(_ name: String) -> RPCError {
        RPCError(.notFound, "model '\(name)' not found; models: \(repository.models.keys.sorted().joined(separator: ", "))")
    }

    /// grpc.health.v1: "" is the server, a model name that model; an unknown name is NOT_FOUND.
    func health(_ request: HealthCheckRequest) throws -> HealthCheckResponse {
        if request.service.isEmpty { return HealthCheckResponse(status: isDraining ? .notServing : .serving) }
        guard let model = repository.models[request.service] else { throw notFound(request.service) }
        return HealthCheckResponse(status: model.isReady && !isDraining ? .serving : .notServing)
    }

    func predict(_ request: PredictRequest, deadline: UInt64?,
                 completion: @escaping @Sendable (Result<PredictResponse, RPCError>) -> Void) throws -> PredictCall {
        let name = request.model.isEmpty ? repository.defaultModel ?? "" : request.model
        guard let model = repository.models[name] else {
            throw request.model.isEmpty ? RPCError(.unavailable, "no model is ready to serve") : notFound(name)
        }
        guard model.isReady, let worker = workers[name] else {
            throw RPCError(.failedPrecondition, "model '\(name)' failed to load: \(model.info.stateReason)")
        }
        guard !request.inputs.isEmpty else { throw RPCError(.invalidArgument, "Predict needs at least one input") }
        guard request.inputs.count <= config.maxInputsPerCall else {
            throw RPCError(.invalidArgument, "\(request.inputs.count) inputs in one call; the limit is \(config.maxInputsPerCall)")
        }
        let call = PredictCall(request: request, model: model, deadline: deadline, completion: completion)
        let now = uptimeNanos()
        let items = request.inputs.indices.map { InferenceItem(call: call, index: $0, enqueued: now) }
        guard worker.queue.enqueue(items) else {
            // Not processed, so safe to retry elsewhere: UNAVAILABLE (see docs/PROTOCOL.md).
            throw RPCError(.unavailable, "model '\(name)' is overloaded: its queue holds \(worker.queue.count) of \(config.queueSize) inputs; retry with backoff")
        }
        return call
    }
}

/// Events the server sends into connection pipelines.
enum ServerEvent {
    case drain
}
