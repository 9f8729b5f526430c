import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TNTServer

/// `tnt-server`: every option also comes from an environment variable `TNT_...`; a flag wins
/// over the variable, the variable over the default.
@main
struct TNTServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tnt-server",
        abstract: "Serve TNT image classifiers over TNTServe's binary RPC protocol (docs/PROTOCOL.md).",
        discussion: "Each option can also be set by the environment variable named in its help; a flag wins over the variable. SIGINT or SIGTERM drains: no new calls, calls in flight answered within --shutdown-grace, exit 0."
    )

    @Option(help: "Address to listen on (TNT_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port; 0 picks a free one (TNT_PORT; default 50051).") var port: Int?
    @Option(help: "Model repository: DIR/<name>/model.json per model (TNT_MODELS; default models).") var models: String?
    @Option(help: "Worker threads per model (TNT_WORKERS; default 2).") var workers: Int?
    @Option(help: "OpenBLAS threads per worker (TNT_BLAS_THREADS; default 1).") var blasThreads: Int?
    @Option(help: "Largest batch a worker runs (TNT_MAX_BATCH; default 4).") var maxBatch: Int?
    @Option(help: "Microseconds the first input of a batch waits for more (TNT_MAX_QUEUE_DELAY_US; default 2000).")
    var maxQueueDelayUs: Int?
    @Option(help: "Inputs queued per model before calls are refused with UNAVAILABLE (TNT_QUEUE_SIZE; default 256).")
    var queueSize: Int?
    @Option(help: "Largest frame in bytes; a larger one closes the connection (TNT_MAX_FRAME_BYTES; default 16777216).")
    var maxFrameBytes: Int?
    @Option(help: "Calls in flight per connection (TNT_MAX_CALLS_PER_CONNECTION; default 256).") var maxCallsPerConnection: Int?
    @Option(help: "Open connections (TNT_MAX_CONNECTIONS; default 1024).") var maxConnections: Int?
    @Option(help: "Seconds before an idle connection is sent GOAWAY and closed (TNT_IDLE_TIMEOUT; default 300).") var idleTimeout: Int?
    @Option(help: "Seconds calls in flight get on shutdown (TNT_SHUTDOWN_GRACE; default 30).") var shutdownGrace: Int?
    @Option(help: "Inputs in one Predict call (TNT_MAX_INPUTS_PER_CALL; default 64).") var maxInputsPerCall: Int?
    @Option(help: "Largest encoded image in bytes (TNT_MAX_IMAGE_BYTES; default 33554432).") var maxImageBytes: Int?
    @Option(help: "Most pixels in a decoded image (TNT_MAX_IMAGE_PIXELS; default 50000000).") var maxImagePixels: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (TNT_LOG_LEVEL; default info).") var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func pick<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ fallback: T) throws -> T {
            if let flag { return flag }
            guard let text = environment[variable] else { return fallback }
            guard let value = T(text) else { throw ValidationError("\(variable)='\(text)' is not a valid value") }
            return value
        }
        var config = ServerConfig()
        config.host = try pick(host, "TNT_HOST", config.host)
        config.port = try pick(port, "TNT_PORT", config.port)
        config.modelsDirectory = try pick(models, "TNT_MODELS", config.modelsDirectory)
        config.workers = try pick(workers, "TNT_WORKERS", config.workers)
        config.threadsPerWorker = try pick(blasThreads, "TNT_BLAS_THREADS", config.threadsPerWorker)
        config.maxBatch = try pick(maxBatch, "TNT_MAX_BATCH", config.maxBatch)
        config.maxQueueDelayMicros = try pick(maxQueueDelayUs, "TNT_MAX_QUEUE_DELAY_US", config.maxQueueDelayMicros)
        config.queueSize = try pick(queueSize, "TNT_QUEUE_SIZE", config.queueSize)
        config.maxFrameSize = try pick(maxFrameBytes, "TNT_MAX_FRAME_BYTES", config.maxFrameSize)
        config.maxConcurrentCallsPerConnection = try pick(maxCallsPerConnection, "TNT_MAX_CALLS_PER_CONNECTION", config.maxConcurrentCallsPerConnection)
        config.maxConnections = try pick(maxConnections, "TNT_MAX_CONNECTIONS", config.maxConnections)
        config.idleTimeoutSeconds = try pick(idleTimeout, "TNT_IDLE_TIMEOUT", config.idleTimeoutSeconds)
        config.shutdownGraceSeconds = try pick(shutdownGrace, "TNT_SHUTDOWN_GRACE", config.shutdownGraceSeconds)
        config.maxInputsPerCall = try pick(maxInputsPerCall, "TNT_MAX_INPUTS_PER_CALL", config.maxInputsPerCall)
        config.decodeLimits.maxEncodedBytes = try pick(maxImageBytes, "TNT_MAX_IMAGE_BYTES", config.decodeLimits.maxEncodedBytes)
        config.decodeLimits.maxPixels = try pick(maxImagePixels, "TNT_MAX_IMAGE_PIXELS", config.decodeLimits.maxPixels)
        for (name, value) in [("workers", config.workers), ("blas-threads", config.threadsPerWorker), ("max-batch", config.maxBatch),
                              ("queue-size", config.queueSize), ("max-frame-bytes", config.maxFrameSize),
                              ("max-calls-per-connection", config.maxConcurrentCallsPerConnection),
                              ("max-connections", config.maxConnections), ("idle-timeout", config.idleTimeoutSeconds)] where value <= 0 {
            throw ValidationError("--\(name) must be positive, got \(value)")
        }
        let levelName = try pick(logLevel, "TNT_LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level '\(levelName)'") }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tnt-server")
        logger.info("configuration", metadata: [
            "host": "\(config.host)", "port": "\(config.port)", "models": "\(config.modelsDirectory)",
            "workers": "\(config.workers)", "blas_threads": "\(config.threadsPerWorker)", "max_batch": "\(config.maxBatch)",
            "max_queue_delay_us": "\(config.maxQueueDelayMicros)", "queue_size": "\(config.queueSize)",
        ])
        let host = config.host
        let server = try TNTServer(config: config, logger: logger) { address in
            // The line tests and scripts wait for.
            FileHandle.standardOutput.write(Data("tnt-server listening on \(host):\(address.port ?? 0)\n".utf8))
        }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
