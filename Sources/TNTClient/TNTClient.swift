import Foundation
import NIOCore
import NIOPosix
import TNTProtocol

/// A client of one or more TNTServe servers.
///
/// An endpoint's host may be a DNS name that resolves to many servers (a Kubernetes headless
/// Service): the client connects to every address, re-resolves the name periodically and
/// whenever a connection goes away, adds new servers and drains removed ones without failing a
/// call (`Discovery`). One connection per address, shared by every call (many in flight at
/// once); calls go round robin (or to the least loaded); an address that fails is ejected and
/// retried after a backoff. Calls the server did not process are retried, within the call's
/// timeout, per `retry`.
///
/// ```swift
/// let client = try TNTClient(endpoints: ["10.0.0.5:50051", "10.0.0.6:50051"])
/// let result = try await client.predict(image: jpegBytes, topK: 5)
/// print(result.classIDs, result.scores, result.labelNames)
/// ```
///
/// Over TLS, with a token (docs/SECURITY.md):
///
/// ```swift
/// let client = try TNTClient(endpoints: ["tnt.example:50051"], tls: TLSOptions(trustRoots: "ca.pem"), token: token)
/// ```
public final class TNTClient: Sendable {
    private let pool: EndpointPool
    /// The retry policy for calls.
    public let retry: RetryPolicy
    private let authorization: MetadataEntry?

    /// - Parameters:
    ///   - endpoints: `host:port` strings (`[::1]:50051` for IPv6); at least one.
    ///   - retry: how calls the server did not process are sent again.
    ///   - discovery: how names are re-resolved and calls spread over their addresses.
    ///   - tls: TLS (and mutual TLS) settings; nil for plaintext.
    ///   - token: sent with every call as `authorization: Bearer <token>`.
    ///   - group: the NIO event loops for the connections.
    /// - Throws: `RPCError` INVALID_ARGUMENT for a malformed endpoint or TLS files that do not load.
    public init(endpoints: [String], retry: RetryPolicy = RetryPolicy(), discovery: Discovery = Discovery(), tls: TLSOptions? = nil,
                token: String? = nil, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard !endpoints.isEmpty else { throw RPCError(.invalidArgument, "a client needs at least one endpoint") }
        let parsed = try endpoints.map { endpoint -> (host: String, port: Int) in
            guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]), port > 0 else {
                throw RPCError(.invalidArgument, "endpoint '\(endpoint)' is not host:port")
            }
            var host = String(endpoint[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }  // [::1]:50051
            return (host, port)
        }
        pool = EndpointPool(endpoints: parsed, reconnect: retry, discovery: discovery, tls: try tls.map(ClientTLS.init), group: group)
        self.retry = retry
        authorization = token.map(MetadataEntry.bearer)
    }

    /// A client of one endpoint, connected before it returns (so a wrong address, or a TLS
    /// handshake either side refuses, fails here).
    public static func connect(_ endpoint: String, retry: RetryPolicy = RetryPolicy(), discovery: Discovery = Discovery(),
                               tls: TLSOptions? = nil, token: String? = nil) async throws -> TNTClient {
        let client = try TNTClient(endpoints: [endpoint], retry: retry, discovery: discovery, tls: tls, token: token)
        do {
            let target = try await client.pool.pick()
            defer { Task { await client.pool.finished(target) } }
            _ = try await client.pool.connection(target)
        } catch let error as NotProcessed {
            throw RPCError(.unavailable, error.reason)
        }
        return client
    }

    /// Calls `method` with a serialized request; returns the serialized response.
    /// - Throws: `RPCError` with the server's status, or UNAVAILABLE / DEADLINE_EXCEEDED from
    ///   the client itself.
    public func call(_ method: String, _ payload: [UInt8], options: CallOptions = CallOptions()) async throws -> [UInt8] {
        let deadline = options.effectiveDeadline(from: .now)
        var metadata = options.metadata
        if let authorization, !metadata.contains(where: { $0.key == authorization.key }) { metadata.append(authorization) }
        var lastReason = ""
        for attempt in 1...max(1, retry.maxAttempts) {
            var micros: UInt64 = 0
            if let deadline {
                let remaining = deadline - .now
                guard remaining > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded after \(attempt - 1) attempts; last: \(lastReason)") }
                micros = UInt64(max(1, (remaining / .microseconds(1)).rounded(.up)))
            }
            do {
                let target = try await pool.pick()
                let outcome: Result<[UInt8], Error>
                do {
                    outcome = .success(try await send(RequestEnvelope(method: method, timeoutMicros: micros, metadata: metadata, payload: payload), to: target))
                } catch {
                    outcome = .failure(error)
                }
                await pool.finished(target)
                return try outcome.get()
            } catch let error as NotProcessed {
                lastReason = error.reason
            }
            if attempt < retry.maxAttempts {
                var pause = retry.backoff(after: attempt)
                if let deadline { pause = min(pause, max(.zero, deadline - .now)) }
                try await Task.sleep(for: pause)
            }
        }
        throw RPCError(.unavailable, "no server took the call after \(retry.maxAttempts) attempts; last: \(lastReason)")
    }

    /// One attempt on one target. Throws `NotProcessed` when the call may go to another.
    private func send(_ request: RequestEnvelope, to target: Int) async throws -> [UInt8] {
        do {
            let connection = try await pool.connection(target)
            let response = try await connection.call(request)
            if response.status == .unavailable {
                // The server refused it before doing any work (the catch below ejects it).
                throw NotProcessed(reason: "\(await pool.name(target)) answered UNAVAILABLE: \(response.message)")
            }
            await pool.succeeded(target)
            guard response.status == .ok else { throw RPCError(response.status, response.message) }
            return response.payload
        } catch let error as NotProcessed {
            await pool.failed(target)
            throw error
        } catch let error as RPCError where error.code == .unavailable {
            // Lost with the connection: it may have run, so it is not sent again.
            await pool.failed(target)
            throw error
        }
    }

    /// The addresses taking calls now: each endpoint's host, or each address its name resolved to.
    public var servers: [String] { get async { await pool.liveTargets } }

    /// Classifies a batch of inputs in one call.
    public func predict(_ request: PredictRequest, options: CallOptions = CallOptions()) async throws -> PredictResponse {
        try PredictResponse(protobuf: try await call(Method.predict, request.protobuf(), options: options))
    }

    /// Classifies one encoded PNG or JPEG image.
    /// - Parameters:
    ///   - image: the file's bytes; the server reads the format from them.
    ///   - model: a model name, or "" for the server's default.
    ///   - topK: classes to return.
    public func predict(image: [UInt8], model: String = "", topK: Int = 5, options: CallOptions = CallOptions()) async throws -> Classification {
        try await predict(PredictRequest(model: model, inputs: [.encodedImage(image)], topK: topK), options: options).results[0]
    }

    /// Classifies several encoded images in one call; results in the same order.
    public func predict(images: [[UInt8]], model: String = "", topK: Int = 5, options: CallOptions = CallOptions()) async throws -> [Classification] {
        try await predict(PredictRequest(model: model, inputs: images.map { .encodedImage($0) }, topK: topK), options: options).results
    }

    /// Classifies a preprocessed float32 tensor, shape [3, H, W].
    public func predict(tensor: [Float], shape: [Int], model: String = "", topK: Int = 5, options: CallOptions = CallOptions()) async throws -> Classification {
        try await predict(PredictRequest(model: model, inputs: [.tensor(shape: shape, data: tensor)], topK: topK), options: options).results[0]
    }

    /// Classifies raw interleaved RGB pixels.
    public func predict(rgb pixels: [UInt8], width: Int, height: Int, model: String = "", topK: Int = 5,
                        options: CallOptions = CallOptions()) async throws -> Classification {
        try await predict(PredictRequest(model: model, inputs: [.rgb(width: width, height: height, pixels: pixels)], topK: topK), options: options).results[0]
    }

    /// grpc.health.v1: "" for the server, a model name for that model.
    public func health(service: String = "", options: CallOptions = CallOptions()) async throws -> HealthCheckResponse.ServingStatus {
        try HealthCheckResponse(protobuf: try await call(Method.healthCheck, HealthCheckRequest(service: service).protobuf(), options: options)).status
    }

    /// Every model of the server's repository, loaded or failed.
    public func listModels(options: CallOptions = CallOptions()) async throws -> [ModelInfo] {
        try ListModelsResponse(protobuf: try await call(Method.listModels, ListModelsRequest().protobuf(), options: options)).models
    }

    /// One model's description; NOT_FOUND when the server has no such model.
    public func model(named name: String, options: CallOptions = CallOptions()) async throws -> ModelInfo {
        try ModelInfo(protobuf: try await call(Method.getModel, GetModelRequest(name: name).protobuf(), options: options))
    }

    /// Closes every connection.
    public func close() async { await pool.closeAll() }
}
