import Metrics
import TNTModel
import TNTProtocol

/// The server's metrics, through swift-metrics (tnt-server bootstraps swift-prometheus).
/// Labels are bounded: methods outside the four known ones are counted as "other".
enum ServerMetrics {
    static let methods: Set<String> = [Method.predict, Method.listModels, Method.getModel, Method.healthCheck]

    static func methodLabel(_ method: String) -> String { methods.contains(method) ? method : "other" }

    /// One answered call, by the protocol it came by ("native" or "grpc"); `caller` (a token's
    /// name) labels it when authentication is on.
    static func call(method: String, status: StatusCode, seconds: Double, protocolName: String, caller: String? = nil) {
        let label = methodLabel(method)
        let by = caller.map { [("caller", $0)] } ?? []
        let via = [("protocol", protocolName)]
        Counter(label: "tnt_rpc_calls_total", dimensions: [("method", label), ("code", status.name)] + via + by).increment()
        Timer(label: "tnt_rpc_duration_seconds", dimensions: [("method", label)] + via + by).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// An info gauge (always 1) whose labels say which OpenBLAS kernels run and why, and what
    /// computes the large products (`large_products_fell_back` is "true" when the AVX-512 tiles
    /// failed their self-check).
    static func kernels(_ k: KernelSelection) {
        Gauge(label: "tnt_blas_kernels_info", dimensions: [
            ("family", k.family), ("source", k.source.rawValue), ("self_check", "passed"),
            ("fell_back_from", k.rejected.map(\.family).joined(separator: ",")),
            ("large_products", k.largeProducts.rawValue), ("large_products_fell_back", "\(k.largeProductsRejection != nil)"),
        ]).record(1)
    }

    static let callsInFlight = Gauge(label: "tnt_rpc_calls_in_flight")
    static let connections = Gauge(label: "tnt_connections")
    static let connectionsRefused = Counter(label: "tnt_connections_refused_total")
    static let bufferedBytes = Gauge(label: "tnt_buffered_bytes")
    static let modelsLoaded = Gauge(label: "tnt_models_loaded")

    /// Per-model instruments.
    struct Model {
        let queueDepth: Gauge
        let queueTime: Timer
        let preprocessTime: Timer
        let computeTime: Timer
        let batchSize: Recorder
        let inputs: Counter

        init(_ name: String) {
            let d = [("model", name)]
            queueDepth = Gauge(label: "tnt_queue_depth", dimensions: d)
            queueTime = Timer(label: "tnt_queue_seconds", dimensions: d)
            preprocessTime = Timer(label: "tnt_preprocess_seconds", dimensions: d)
            computeTime = Timer(label: "tnt_compute_seconds", dimensions: d)
            batchSize = Recorder(label: "tnt_batch_size", dimensions: d)
            inputs = Counter(label: "tnt_inputs_computed_total", dimensions: d)
        }
    }
}
