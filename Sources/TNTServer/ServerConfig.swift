import Foundation
import TNTImage
import TNTModel

/// Everything `tnt-server` can be told; defaults fit a 2-core machine (docs/PERFORMANCE.md).
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 50051
    /// The admin HTTP port (/metrics, /healthz, /readyz); nil for none, 0 picks a free one.
    public var adminPort: Int? = nil
    /// The standard gRPC (HTTP/2) port beside the native one; nil for none, 0 picks a free one.
    public var grpcPort: Int? = nil
    public var modelsDirectory = "models"
    /// Workers per model, each running its own forward passes one batch at a time.
    public var workers = 1
    /// Threads each worker's forward pass (and its batch's preprocessing) runs on.
    public var threadsPerWorker = CPUBudget.cores
    /// Largest batch a worker runs. One worker on every core with batches of up to 8 serves a
    /// lone caller at one image's all-core latency and a crowd at the best batch throughput
    /// (docs/PERFORMANCE.md, "Server defaults").
    public var maxBatch = 8
    /// How long the first request of a batch may wait for others, in microseconds.
    public var maxQueueDelayMicros = 2_000
    /// Inputs waiting per model; beyond it calls are refused at once with UNAVAILABLE.
    public var queueSize = 256
    public var maxFrameSize = 16 << 20
    public var maxConcurrentCallsPerConnection = 256
    public var maxConnections = 1024
    /// Open connections from one IP address, so that one host cannot take every slot.
    public var maxConnectionsPerPeer = 256
    /// Seconds a connection may stay idle (no call in flight and no REQUEST) before GOAWAY.
    /// PINGs and partial frames do not count as activity.
    public var idleTimeoutSeconds = 300
    /// Seconds the preface, and each frame once its first byte has arrived, may take to arrive
    /// whole (slow-peer protection).
    public var frameTimeoutSeconds = 30
    /// Seconds a connection's answers may wait for a peer that does not read before the
    /// connection is closed.
    public var writeTimeoutSeconds = 30
    /// Bytes a connection may hold in the server: request frames of its calls in flight plus
    /// answers written but not yet taken by the peer. At the limit the server stops reading
    /// from it (back-pressure); answers alone above it close it (the peer is not reading).
    public var maxConnectionBufferBytes = 32 << 20
    /// Bytes all connections together may hold (partial frames and requests in flight); at
    /// the limit every connection stops reading until calls finish.
    public var maxBufferedBytes = 256 << 20
    /// Open connections to the admin HTTP port.
    public var adminMaxConnections = 16
    /// Seconds an admin connection may take to send a request, and may stay idle.
    public var adminTimeoutSeconds = 10
    /// Seconds a connection may live (±10%) before GOAWAY OK asks its client to reconnect, so
    /// that clients spread over replicas added since they connected; 0 for no limit.
    public var maxConnectionAgeSeconds = 0
    /// Seconds the calls in flight get to finish after the age GOAWAY, before they are
    /// answered UNAVAILABLE and the connection closes.
    public var maxConnectionAgeGraceSeconds = 30
    /// Seconds in-flight calls get to finish on shutdown.
    public var shutdownGraceSeconds = 30
    public var maxInputsPerCall = 64
    /// Pixels all of a Predict call's images may declare together (decode work per call),
    /// read from their headers before anything is queued.
    public var maxCallPixels = 64 << 20
    /// Seconds between rescans of the model repository; 0 rescans only on SIGHUP.
    public var reloadIntervalSeconds = 0
    public var decodeLimits = DecodeLimits()

    // Security (docs/SECURITY.md): all off by default.
    /// PEM certificate chain (leaf first) and key: TLS on the RPC port.
    public var tlsCertificateChain: String?
    public var tlsPrivateKey: String?
    /// PEM CA certificates: clients must present a certificate signed by one (mutual TLS).
    public var tlsClientCA: String?
    /// The admin port speaks TLS too, with the RPC port's certificate (no client certificate asked).
    public var adminTLS = false
    /// The token file: calls other than Health need `authorization: Bearer <token>`.
    public var authTokensFile: String?
    /// One log line per answered call (method, status, duration, peer, caller).
    public var accessLog = false

    public init() {}

    /// A setting that cannot work, or settings that contradict each other.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
