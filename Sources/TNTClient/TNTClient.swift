import NIOCore
import TNTProtocol

/// A client of one TNTServe server, over one connection with many calls in flight.
/// Issue [4 of 6] grows this into the full SDK (endpoints, retries); the calls stay.
public final class TNTClient: Sendable {
    public let connection: Connection

    /// Connects to `host:port`.
    public static func connect(_ endpoint: String) async throws -> TNTClient {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else {
            throw RPCError(.invalidArgument, "endpoint '\(endpoint)' is not host:port")
        }
        return TNTClient(connection: try await Connection.connect(host: String(endpoint[..<colon]), port: port))
    }

    public init(connection: Connection) { self.connection = connection }

    /// Calls `method` and returns the response payload; a non-OK status throws `RPCError`.
    /// - Parameter timeout: the call's deadline, relative to now; nil for none.
    public func call(_ method: String, _ payload: [UInt8], timeout: Duration? = nil, metadata: [MetadataEntry] = []) async throws -> [UInt8] {
        let micros = timeout.map { UInt64(max(1, $0.components.seconds * 1_000_000 + $0.components.attoseconds / 1_000_000_000_000)) } ?? 0
        let response = try await connection.call(RequestEnvelope(method: method, timeoutMicros: micros, metadata: metadata, payload: payload))
        guard response.status == .ok else { throw RPCError(response.status, response.message) }
        return response.payload
    }

    public func predict(_ request: PredictRequest, timeout: Duration? = nil) async throws -> PredictResponse {
        try PredictResponse(protobuf: try await call(Method.predict, request.protobuf(), timeout: timeout))
    }

    public func health(service: String = "", timeout: Duration? = nil) async throws -> HealthCheckResponse.ServingStatus {
        try HealthCheckResponse(protobuf: try await call(Method.healthCheck, HealthCheckRequest(service: service).protobuf(), timeout: timeout)).status
    }

    public func listModels() async throws -> [ModelInfo] {
        try ListModelsResponse(protobuf: try await call(Method.listModels, ListModelsRequest().protobuf())).models
    }

    public func model(named name: String) async throws -> ModelInfo {
        try ModelInfo(protobuf: try await call(Method.getModel, GetModelRequest(name: name).protobuf()))
    }

    public func close() async { await connection.close() }
}
