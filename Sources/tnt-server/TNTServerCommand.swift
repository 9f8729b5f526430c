import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOPosix
import Prometheus
import ServiceLifecycle
#if GRPC
import TNTGRPC
#endif
import TNTModel
import TNTServer

/// `tnt-server`. Every option comes from, in this order of precedence: its flag, its
/// environment variable `TNT_...`, the JSON config file (`--config`, keys as the flag names:
/// `{"port": 50051, "max-batch": 4}`), the default.
@main
struct TNTServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tnt-server",
        abstract: "Serve TNT image classifiers over TNTServe's binary RPC protocol (docs/PROTOCOL.md).",
        discussion: "Each option can also be set by the environment variable named in its help, or in a JSON config file (--config; keys are the flag names). Precedence: flag, then variable, then file, then default. SIGINT or SIGTERM drains: /readyz turns false, GOAWAY, calls in flight answered within --shutdown-grace, exit 0."
    )

    @Option(help: "Address to listen on (TNT_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port; 0 picks a free one (TNT_PORT; default 50051).") var port: Int?
    @Option(help: "Admin HTTP port for /metrics, /healthz, /readyz; 0 picks a free one; none when absent (TNT_ADMIN_PORT).")
    var adminPort: Int?
    @Option(help: "Standard gRPC (HTTP/2) port beside the native one; 0 picks a free one; none when absent (TNT_GRPC_PORT).")
    var grpcPort: Int?
    @Option(help: "JSON config file; keys are the flag names (TNT_CONFIG).") var config: String?
    @Option(help: "text or json (TNT_LOG_FORMAT; default text).") var logFormat: String?
    @Option(help: "Model repository: DIR/<name>/model.json per model (TNT_MODELS; default models).") var models: String?
    @Option(help: "Workers per model, each computing one batch at a time (TNT_WORKERS; default 1).") var workers: Int?
    @Option(help: "Threads each worker's forward pass is split across, OpenBLAS single-threaded on each (TNT_BLAS_THREADS; default: the cores this process may use, cgroup quota included: \(CPUBudget.cores) here).")
    var blasThreads: Int?
    @Option(help: "Largest batch a worker runs (TNT_MAX_BATCH; default 8).") var maxBatch: Int?
    @Option(help: "Microseconds the first input of a batch waits for more (TNT_MAX_QUEUE_DELAY_US; default 2000).")
    var maxQueueDelayUs: Int?
    @Option(help: "Inputs queued per model before calls are refused with UNAVAILABLE (TNT_QUEUE_SIZE; default 256).")
    var queueSize: Int?
    @Option(help: "Largest frame in bytes; a larger one closes the connection (TNT_MAX_FRAME_BYTES; default 16777216).")
    var maxFrameBytes: Int?
    @Option(help: "Calls in flight per connection (TNT_MAX_CALLS_PER_CONNECTION; default 256).") var maxCallsPerConnection: Int?
    @Option(help: "Open connections (TNT_MAX_CONNECTIONS; default 1024).") var maxConnections: Int?
    @Option(help: "Open connections from one IP address (TNT_MAX_CONNECTIONS_PER_PEER; default 256).") var maxConnectionsPerPeer: Int?
    @Option(help: "Seconds with no call in flight and no REQUEST before an idle connection is sent GOAWAY and closed (TNT_IDLE_TIMEOUT; default 300).")
    var idleTimeout: Int?
    @Option(help: "Seconds the preface, and each frame from its first byte, may take to arrive (TNT_FRAME_TIMEOUT; default 30).")
    var frameTimeout: Int?
    @Option(help: "Seconds a connection's answers may wait for a peer that does not read before it is closed (TNT_WRITE_TIMEOUT; default 30).")
    var writeTimeout: Int?
    @Option(help: "Bytes one connection may hold: requests in flight plus unread answers; reading pauses at it (TNT_MAX_CONNECTION_BUFFER_BYTES; default 33554432).")
    var maxConnectionBufferBytes: Int?
    @Option(help: "Bytes all connections together may hold: partial frames and requests in flight; reading pauses at it (TNT_MAX_BUFFERED_BYTES; default 268435456).")
    var maxBufferedBytes: Int?
    @Option(help: "Open connections to the admin port (TNT_ADMIN_MAX_CONNECTIONS; default 16).") var adminMaxConnections: Int?
    @Option(help: "Seconds an admin connection may take per request or stay idle (TNT_ADMIN_TIMEOUT; default 10).") var adminTimeout: Int?
    @Option(help: "Seconds calls in flight get on shutdown (TNT_SHUTDOWN_GRACE; default 30).") var shutdownGrace: Int?
    @Option(help: "Seconds (±10%) after which a connection gets GOAWAY OK so that its client reconnects, perhaps to a new replica; 0 = never (TNT_MAX_CONNECTION_AGE; default 0).")
    var maxConnectionAge: Int?
    @Option(help: "Seconds the calls in flight get after the age GOAWAY before they are answered UNAVAILABLE (TNT_MAX_CONNECTION_AGE_GRACE; default 30).")
    var maxConnectionAgeGrace: Int?
    @Option(help: "Inputs in one Predict call (TNT_MAX_INPUTS_PER_CALL; default 64).") var maxInputsPerCall: Int?
    @Option(help: "Pixels all images of one Predict call may declare together (TNT_MAX_CALL_PIXELS; default 67108864).") var maxCallPixels: Int?
    @Option(help: "Seconds between rescans of the model repository; 0 = only on SIGHUP (TNT_RELOAD_INTERVAL; default 0).")
    var reloadInterval: Int?
    @Option(help: "Largest encoded image in bytes (TNT_MAX_IMAGE_BYTES; default 33554432).") var maxImageBytes: Int?
    @Option(help: "Most pixels in a decoded image, 3 bytes each while decoding (TNT_MAX_IMAGE_PIXELS; default 16777216).") var maxImagePixels: Int?
    @Option(help: "Above 1 Mpx, most pixels an image may declare per encoded byte: decompression bombs (TNT_MAX_IMAGE_PIXELS_PER_BYTE; default 1024).")
    var maxImagePixelsPerByte: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (TNT_LOG_LEVEL; default info).") var logLevel: String?
    @Option(help: "One log line per answered call: method, status, duration, peer, caller (TNT_ACCESS_LOG; default false).") var accessLog: Bool?
    @Option(help: "PEM certificate chain, leaf first: TLS on the RPC port; reloaded on SIGHUP (TNT_TLS_CERT; default none).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert (TNT_TLS_KEY).") var tlsKey: String?
    @Option(help: "PEM CA certificates: clients must present a certificate signed by one, mutual TLS (TNT_TLS_CLIENT_CA; default none).")
    var tlsClientCa: String?
    @Option(help: "The admin port speaks TLS with --tls-cert too, asking no client certificate (TNT_ADMIN_TLS; default false).") var adminTls: Bool?
    @Option(help: "Token file, lines 'SHA256-HEX NAME MODELS': calls other than Health need 'authorization: Bearer <token>'; reloaded on SIGHUP (TNT_AUTH_TOKENS; default none).")
    var authTokens: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var file: [String: String] = [:]
        if let path = self.config ?? environment["TNT_CONFIG"] {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read config file '\(path)'") }
            do {
                file = try ConfigFile.parse(data)
            } catch {
                throw ValidationError("'\(path)': \(error)")
            }
        }
        var fromFile: [String] = []
        func pick<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ fallback: T) throws -> T {
            if let flag { return flag }
            if let text = environment[variable] {
                guard let value = T(text) else { throw ValidationError("\(variable)='\(text)' is not a valid value") }
                return value
            }
            let key = variable.dropFirst(4).lowercased().replacingOccurrences(of: "_", with: "-")
            if let raw = file[key] {
                guard let value = T(raw) else { throw ValidationError("config file: '\(key)': \(raw) is not a valid value") }
                fromFile.append(key)
                return value
            }
            return fallback
        }
        var config = ServerConfig()
        config.host = try pick(host, "TNT_HOST", config.host)
        config.port = try pick(port, "TNT_PORT", config.port)
        let admin = try pick(adminPort, "TNT_ADMIN_PORT", -1)
        config.adminPort = admin >= 0 ? admin : nil
        let grpc = try pick(grpcPort, "TNT_GRPC_PORT", -1)
        config.grpcPort = grpc >= 0 ? grpc : nil
        config.modelsDirectory = try pick(models, "TNT_MODELS", config.modelsDirectory)
        config.workers = try pick(workers, "TNT_WORKERS", config.workers)
        config.threadsPerWorker = try pick(blasThreads, "TNT_BLAS_THREADS", config.threadsPerWorker)
        config.maxBatch = try pick(maxBatch, "TNT_MAX_BATCH", config.maxBatch)
        config.maxQueueDelayMicros = try pick(maxQueueDelayUs, "TNT_MAX_QUEUE_DELAY_US", config.maxQueueDelayMicros)
        config.queueSize = try pick(queueSize, "TNT_QUEUE_SIZE", config.queueSize)
        config.maxFrameSize = try pick(maxFrameBytes, "TNT_MAX_FRAME_BYTES", config.maxFrameSize)
        config.maxConcurrentCallsPerConnection = try pick(maxCallsPerConnection, "TNT_MAX_CALLS_PER_CONNECTION", config.maxConcurrentCallsPerConnection)
        config.maxConnections = try pick(maxConnections, "TNT_MAX_CONNECTIONS", config.maxConnections)
        config.maxConnectionsPerPeer = try pick(maxConnectionsPerPeer, "TNT_MAX_CONNECTIONS_PER_PEER", config.maxConnectionsPerPeer)
        config.idleTimeoutSeconds = try pick(idleTimeout, "TNT_IDLE_TIMEOUT", config.idleTimeoutSeconds)
        config.frameTimeoutSeconds = try pick(frameTimeout, "TNT_FRAME_TIMEOUT", config.frameTimeoutSeconds)
        config.writeTimeoutSeconds = try pick(writeTimeout, "TNT_WRITE_TIMEOUT", config.writeTimeoutSeconds)
        config.maxConnectionBufferBytes = try pick(maxConnectionBufferBytes, "TNT_MAX_CONNECTION_BUFFER_BYTES", config.maxConnectionBufferBytes)
        config.maxBufferedBytes = try pick(maxBufferedBytes, "TNT_MAX_BUFFERED_BYTES", config.maxBufferedBytes)
        config.adminMaxConnections = try pick(adminMaxConnections, "TNT_ADMIN_MAX_CONNECTIONS", config.adminMaxConnections)
        config.adminTimeoutSeconds = try pick(adminTimeout, "TNT_ADMIN_TIMEOUT", config.adminTimeoutSeconds)
        config.shutdownGraceSeconds = try pick(shutdownGrace, "TNT_SHUTDOWN_GRACE", config.shutdownGraceSeconds)
        config.maxConnectionAgeSeconds = try pick(maxConnectionAge, "TNT_MAX_CONNECTION_AGE", config.maxConnectionAgeSeconds)
        config.maxConnectionAgeGraceSeconds = try pick(maxConnectionAgeGrace, "TNT_MAX_CONNECTION_AGE_GRACE", config.maxConnectionAgeGraceSeconds)
        guard config.maxConnectionAgeSeconds >= 0 else { throw ValidationError("--max-connection-age must be 0 (off) or positive") }
        config.maxInputsPerCall = try pick(maxInputsPerCall, "TNT_MAX_INPUTS_PER_CALL", config.maxInputsPerCall)
        config.maxCallPixels = try pick(maxCallPixels, "TNT_MAX_CALL_PIXELS", config.maxCallPixels)
        config.reloadIntervalSeconds = try pick(reloadInterval, "TNT_RELOAD_INTERVAL", config.reloadIntervalSeconds)
        config.decodeLimits.maxEncodedBytes = try pick(maxImageBytes, "TNT_MAX_IMAGE_BYTES", config.decodeLimits.maxEncodedBytes)
        config.decodeLimits.maxPixels = try pick(maxImagePixels, "TNT_MAX_IMAGE_PIXELS", config.decodeLimits.maxPixels)
        config.decodeLimits.maxPixelsPerByte = try pick(maxImagePixelsPerByte, "TNT_MAX_IMAGE_PIXELS_PER_BYTE", config.decodeLimits.maxPixelsPerByte)
        config.accessLog = try pick(accessLog, "TNT_ACCESS_LOG", config.accessLog)
        func path(_ flag: String?, _ variable: String) throws -> String? {
            let value = try pick(flag, variable, "")
            return value.isEmpty ? nil : value
        }
        config.tlsCertificateChain = try path(tlsCert, "TNT_TLS_CERT")
        config.tlsPrivateKey = try path(tlsKey, "TNT_TLS_KEY")
        config.tlsClientCA = try path(tlsClientCa, "TNT_TLS_CLIENT_CA")
        config.adminTLS = try pick(adminTls, "TNT_ADMIN_TLS", config.adminTLS)
        config.authTokensFile = try path(authTokens, "TNT_AUTH_TOKENS")
        for (name, value) in [("workers", config.workers), ("blas-threads", config.threadsPerWorker), ("max-batch", config.maxBatch),
                              ("queue-size", config.queueSize), ("max-frame-bytes", config.maxFrameSize),
                              ("max-calls-per-connection", config.maxConcurrentCallsPerConnection),
                              ("max-connections", config.maxConnections), ("max-connections-per-peer", config.maxConnectionsPerPeer),
                              ("idle-timeout", config.idleTimeoutSeconds), ("frame-timeout", config.frameTimeoutSeconds),
                              ("write-timeout", config.writeTimeoutSeconds), ("max-connection-buffer-bytes", config.maxConnectionBufferBytes), ("max-buffered-bytes", config.maxBufferedBytes),
                              ("admin-max-connections", config.adminMaxConnections), ("admin-timeout", config.adminTimeoutSeconds),
                              ("max-connection-age-grace", config.maxConnectionAgeGraceSeconds),
                              ("max-inputs-per-call", config.maxInputsPerCall), ("max-call-pixels", config.maxCallPixels), ("max-image-bytes", config.decodeLimits.maxEncodedBytes),
                              ("max-image-pixels", config.decodeLimits.maxPixels), ("max-image-pixels-per-byte", config.decodeLimits.maxPixelsPerByte)] where value <= 0 {
            throw ValidationError("--\(name) must be positive, got \(value)")
        }
        let levelName = try pick(logLevel, "TNT_LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level '\(levelName)'") }
        let format = try pick(logFormat, "TNT_LOG_FORMAT", "text")
        guard format == "text" || format == "json" else { throw ValidationError("--log-format is text or json, got '\(format)'") }

        LoggingSystem.bootstrap { label in
            if format == "json" {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var prometheus = PrometheusMetricsFactory()
        prometheus.valueHistogramBuckets["tnt_batch_size"] = [1, 2, 4, 8, 16, 32, 64]
        let registry = prometheus.registry
        MetricsSystem.bootstrap(prometheus)

        let logger = Logger(label: "tnt-server")
        logger.info("effective configuration", metadata: [
            "host": "\(config.host)", "port": "\(config.port)", "admin_port": "\(config.adminPort.map(String.init) ?? "none")",
            "grpc_port": "\(config.grpcPort.map(String.init) ?? "none")", "models": "\(config.modelsDirectory)", "workers": "\(config.workers)", "blas_threads": "\(config.threadsPerWorker)",
            "max_batch": "\(config.maxBatch)", "max_queue_delay_us": "\(config.maxQueueDelayMicros)", "queue_size": "\(config.queueSize)",
            "max_frame_bytes": "\(config.maxFrameSize)", "max_calls_per_connection": "\(config.maxConcurrentCallsPerConnection)",
            "max_connections": "\(config.maxConnections)", "max_connections_per_peer": "\(config.maxConnectionsPerPeer)",
            "idle_timeout_s": "\(config.idleTimeoutSeconds)", "frame_timeout_s": "\(config.frameTimeoutSeconds)",
            "write_timeout_s": "\(config.writeTimeoutSeconds)", "max_connection_buffer_bytes": "\(config.maxConnectionBufferBytes)", "max_buffered_bytes": "\(config.maxBufferedBytes)",
            "admin_max_connections": "\(config.adminMaxConnections)", "admin_timeout_s": "\(config.adminTimeoutSeconds)",
            "shutdown_grace_s": "\(config.shutdownGraceSeconds)", "max_connection_age_s": "\(config.maxConnectionAgeSeconds)",
            "max_connection_age_grace_s": "\(config.maxConnectionAgeGraceSeconds)", "max_inputs_per_call": "\(config.maxInputsPerCall)", "max_call_pixels": "\(config.maxCallPixels)",
            "reload_interval_s": "\(config.reloadIntervalSeconds)",
            "max_image_bytes": "\(config.decodeLimits.maxEncodedBytes)", "max_image_pixels": "\(config.decodeLimits.maxPixels)",
            "max_image_pixels_per_byte": "\(config.decodeLimits.maxPixelsPerByte)",
            "log_level": "\(level)", "log_format": "\(format)", "from_config_file": "\(fromFile.sorted())",
            "tls_cert": "\(config.tlsCertificateChain ?? "none")", "tls_client_ca": "\(config.tlsClientCA ?? "none")",
            "admin_tls": "\(config.adminTLS)", "auth_tokens": "\(config.authTokensFile ?? "none")", "access_log": "\(config.accessLog)",
        ])
        let host = config.host
        let server = try TNTServer(config: config, logger: logger, metrics: { registry.emitToString() }, endpoints: { core in
            guard let port = config.grpcPort else { return [] }
            #if GRPC
            return [try GRPCEndpoint(core: core, port: port, group: MultiThreadedEventLoopGroup(numberOfThreads: 1))]
            #else
            throw ValidationError("--grpc-port \(port): this tnt-server was built without gRPC; build it with `swift build -c release --traits GRPC` (make serve GRPC=1)")
            #endif
        }) { bound in
            // The lines tests and scripts wait for: admin and gRPC first, then the RPC port.
            var lines = ""
            if let admin = bound.admin { lines += "tnt-server admin on \(host):\(admin.port ?? 0)\n" }
            if let grpc = bound.endpoints.first { lines += "tnt-server grpc on \(host):\(grpc.port ?? 0)\n" }
            lines += "tnt-server listening on \(host):\(bound.rpc.port ?? 0)\n"
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
