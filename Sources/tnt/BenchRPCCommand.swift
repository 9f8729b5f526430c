import ArgumentParser
import Foundation
import TNTClient
#if GRPC
import TNTGRPC
#endif
import TNTModel
import TNTProtocol

struct BenchRPCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "Load a running server: calls/s and p50/p90/p99 latency for Health or single-input Predict calls, or the transfer rate of large calls."
    )

    /// `transfer`: a Predict of one [3, 224, 224] float32 tensor (602,112 bytes of data) to a
    /// model with another input size. The server receives and decodes the whole message, then
    /// refuses it (INVALID_ARGUMENT, shape): the connection's and protocol's cost of a large
    /// call, without the forward pass.
    enum BenchMethod: String, ExpressibleByArgument { case health, predict, transfer }

    @OptionGroup var server: ServerOptions
    @Option(help: "health, predict or transfer (a 602 KB tensor refused after it is read: needs a model whose input is not 224x224).")
    var method: BenchMethod = .health
    @Option(help: "Connections, shared round robin by the callers.") var connections = 1
    @Option(help: "Callers, each with one call in flight at a time.") var concurrency = 1
    @Option(help: "Seconds of load after a one-second warm-up.") var seconds = 5.0
    @Option(help: "Model for predict; the server's default when empty.") var model = ""
    @Option(help: "Image to send with predict (PNG or JPEG).") var image: String?
    @Flag(help: "Send a random preprocessed tensor instead of an image.") var tensor = false
    @Flag(help: "Call the server's standard gRPC port (--server names it; plaintext), with grpc-swift's client.") var grpc = false

    func run() async throws {
        guard concurrency > 0, connections > 0 else { throw ValidationError("--concurrency and --connections must be positive") }
        var clients: [any BytesCaller] = []
        for _ in 0..<connections { clients.append(grpc ? try server.connectGRPC() : try await server.connect()) }
        let payload = try await requestPayload(clients[0])
        let method = self.method == .health ? Method.healthCheck : Method.predict
        let expected: StatusCode = self.method == .transfer ? .invalidArgument : .ok
        let calls = clients
        let (latencies, completedInWindow) = try await load(calls, method, payload, expected, warmUp: 1, seconds: seconds)
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
        let rate = Double(completedInWindow) / seconds
        let megabytes = self.method == .transfer ? String(format: " = %.1f MB/s of requests", rate * Double(payload.count) / 1e6) : ""
        print(String(format: "%@%@ × %d callers on %d connections: %d calls completed in %.1f s = %.2f calls/s%@; latency ms p50 %.2f, p90 %.2f, p99 %.2f",
                     self.method.rawValue, grpc ? " (gRPC)" : "", concurrency, connections, completedInWindow, seconds, rate, megabytes,
                     percentile(0.5), percentile(0.9), percentile(0.99)))
        for client in clients { await client.close() }
    }

    private func requestPayload(_ client: any BytesCaller) async throws -> [UInt8] {
        switch method {
        case .health:
            return HealthCheckRequest().protobuf()
        case .transfer:
            var rng = SplitMix64(seed: 3)
            let shape = [3, 224, 224]
            return PredictRequest(model: model, inputs: [.tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })]).protobuf()
        case .predict:
            if let image {
                return PredictRequest(model: model, inputs: [.encodedImage(try readImage(image))]).protobuf()
            }
            guard tensor else { throw ValidationError("predict needs --image FILE or --tensor") }
            let models = try ListModelsResponse(protobuf: try await client.call(Method.listModels, ListModelsRequest().protobuf())).models
            guard let info = models.first(where: { model.isEmpty ? $0.state == .ready : $0.name == model }) else {
                throw ValidationError("no ready model '\(model)' on the server")
            }
            var rng = SplitMix64(seed: 3)
            let count = info.inputShape.reduce(1, *)
            return PredictRequest(model: info.name, inputs: [.tensor(shape: info.inputShape, data: (0..<count).map { _ in Float.random(in: -1...1, using: &rng) })]).protobuf()
        }
    }

    /// `concurrency` callers, each looping one call at a time through `warmUp` and then
    /// `seconds` more. The window is the last `seconds`: it opens on a server already in its
    /// steady state (callers that stopped and restarted together would make it start with an
    /// empty pipeline, and a server that answers in batches would then be counted short by
    /// half a batch on average). Returns the latencies of the calls completed inside the
    /// window and their count (the throughput's count: calls still running at the end would
    /// otherwise stretch the window).
    private func load(_ clients: [any BytesCaller], _ method: String, _ payload: [UInt8], _ expected: StatusCode,
                      warmUp: Double, seconds: Double) async throws -> ([Double], Int) {
        let opens = ContinuousClock.now + .milliseconds(Int64(warmUp * 1000))
        let end = opens + .milliseconds(Int64(seconds * 1000))
        return try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for caller in 0..<concurrency {
                let client = clients[caller % clients.count]
                group.addTask {
                    var mine: [Double] = []
                    var inWindow = 0
                    while ContinuousClock.now < end {
                        let t0 = ContinuousClock.now
                        do {
                            _ = try await client.call(method, payload)
                            guard expected == .ok else { throw ValidationError("a transfer call was computed: give a model whose input is not 224x224") }
                        } catch let error as RPCError where error.code == expected && expected != .ok {
                        }
                        let t1 = ContinuousClock.now
                        if t1 >= opens && t1 <= end {
                            inWindow += 1
                            mine.append((t1 - t0) / .seconds(1))
                        }
                    }
                    return (mine, inWindow)
                }
            }
            var all: [Double] = [], completed = 0
            for try await (part, count) in group {
                all += part
                completed += count
            }
            return (all, completed)
        }
    }
}

/// What the benchmark needs of a client: one call as protobuf bytes, over either port.
protocol BytesCaller: Sendable {
    func call(_ method: String, _ payload: [UInt8]) async throws -> [UInt8]
    func close() async
}

extension TNTClient: BytesCaller {
    func call(_ method: String, _ payload: [UInt8]) async throws -> [UInt8] { try await call(method, payload, options: CallOptions()) }
}

#if GRPC
extension GRPCBytesClient: BytesCaller {}
#endif

extension ServerOptions {
    func connectGRPC() throws -> any BytesCaller {
        #if GRPC
        guard !tls, tlsCA == nil, tlsCert == nil else { throw ValidationError("--grpc benchmarks plaintext gRPC only") }
        let parts = self.server.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--grpc needs --server HOST:PORT, got '\(self.server)'") }
        return try GRPCBytesClient(host: String(parts[0]), port: port)
        #else
        throw ValidationError("--grpc: this tnt was built without gRPC; build it with `swift build -c release --traits GRPC`")
        #endif
    }
}
