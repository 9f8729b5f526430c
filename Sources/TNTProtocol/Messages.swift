// Swift value types for every message of proto/tnt/v1. Protobuf.swift converts them to and
// from the protobuf-c structs; nothing else touches C memory.

public struct MetadataEntry: Equatable, Sendable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }

    /// The key whose value is `Bearer <token>` on a server that requires tokens (docs/SECURITY.md).
    public static let authorizationKey = "authorization"

    /// The entry that carries `token`.
    public static func bearer(_ token: String) -> MetadataEntry { MetadataEntry(authorizationKey, "Bearer \(token)") }
}

public struct RequestEnvelope: Equatable, Sendable {
    public var method: String
    /// Relative deadline in microseconds; 0 for none.
    public var timeoutMicros: UInt64
    public var metadata: [MetadataEntry]
    public var payload: [UInt8]

    public init(method: String, timeoutMicros: UInt64 = 0, metadata: [MetadataEntry] = [], payload: [UInt8]) {
        self.method = method
        self.timeoutMicros = timeoutMicros
        self.metadata = metadata
        self.payload = payload
    }
}

public struct ResponseEnvelope: Equatable, Sendable {
    public var status: StatusCode
    public var message: String
    public var metadata: [MetadataEntry]
    public var payload: [UInt8]

    public init(status: StatusCode, message: String = "", metadata: [MetadataEntry] = [], payload: [UInt8] = []) {
        self.status = status
        self.message = message
        self.metadata = metadata
        self.payload = payload
    }
}

public struct GoAway: Equatable, Sendable {
    public var lastStreamID: UInt32
    public var status: StatusCode
    public var message: String

    public init(lastStreamID: UInt32, status: StatusCode, message: String) {
        self.lastStreamID = lastStreamID
        self.status = status
        self.message = message
    }
}

/// One input of a Predict call.
public enum PredictInput: Equatable, Sendable {
    /// PNG or JPEG bytes.
    case encodedImage([UInt8])
    /// A preprocessed float32 tensor, [3, H, W] or [1, 3, H, W].
    case tensor(shape: [Int], data: [Float])
    /// Raw interleaved RGB pixels.
    case rgb(width: Int, height: Int, pixels: [UInt8])
}

public struct PredictRequest: Equatable, Sendable {
    public var model: String
    public var inputs: [PredictInput]
    /// 0 means the default, 5.
    public var topK: Int
    public var returnProbabilities: Bool
    public var returnLogits: Bool
    public var returnFeatures: Bool

    public init(model: String = "", inputs: [PredictInput], topK: Int = 0,
                returnProbabilities: Bool = false, returnLogits: Bool = false, returnFeatures: Bool = false) {
        self.model = model
        self.inputs = inputs
        self.topK = topK
        self.returnProbabilities = returnProbabilities
        self.returnLogits = returnLogits
        self.returnFeatures = returnFeatures
    }
}

public struct Timings: Equatable, Sendable {
    public var queueMicros: UInt64
    public var preprocessMicros: UInt64
    public var computeMicros: UInt64
    public var batchSize: Int

    public init(queueMicros: UInt64 = 0, preprocessMicros: UInt64 = 0, computeMicros: UInt64 = 0, batchSize: Int = 0) {
        self.queueMicros = queueMicros
        self.preprocessMicros = preprocessMicros
        self.computeMicros = computeMicros
        self.batchSize = batchSize
    }
}

public struct Classification: Equatable, Sendable {
    public var classIDs: [Int]
    public var scores: [Float]
    public var labelNames: [String]
    public var probabilities: [Float]
    public var logits: [Float]
    public var features: [Float]
    public var timings: Timings

    public init(classIDs: [Int], scores: [Float], labelNames: [String] = [], probabilities: [Float] = [],
                logits: [Float] = [], features: [Float] = [], timings: Timings = Timings()) {
        self.classIDs = classIDs
        self.scores = scores
        self.labelNames = labelNames
        self.probabilities = probabilities
        self.logits = logits
        self.features = features
        self.timings = timings
    }
}

public struct PredictResponse: Equatable, Sendable {
    public var model: String
    public var results: [Classification]

    public init(model: String, results: [Classification]) {
        self.model = model
        self.results = results
    }
}

public struct ListModelsRequest: Equatable, Sendable {
    public init() {}
}

public struct GetModelRequest: Equatable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct ModelInfo: Equatable, Sendable {
    public enum State: Int, Sendable {
        case unspecified = 0, loading = 1, ready = 2, failed = 3
    }

    public var name: String
    public var architecture: String
    public var inputShape: [Int]
    public var classes: Int
    public var parameters: Int
    public var weightsSHA256: String
    public var state: State
    public var stateReason: String
    public var hasLabels: Bool

    public init(name: String, architecture: String, inputShape: [Int], classes: Int, parameters: Int,
                weightsSHA256: String, state: State, stateReason: String = "", hasLabels: Bool = false) {
        self.name = name
        self.architecture = architecture
        self.inputShape = inputShape
        self.classes = classes
        self.parameters = parameters
        self.weightsSHA256 = weightsSHA256
        self.state = state
        self.stateReason = stateReason
        self.hasLabels = hasLabels
    }
}

public struct ListModelsResponse: Equatable, Sendable {
    public var models: [ModelInfo]

    public init(models: [ModelInfo]) { self.models = models }
}

public struct HealthCheckRequest: Equatable, Sendable {
    public var service: String

    public init(service: String = "") { self.service = service }
}

public struct HealthCheckResponse: Equatable, Sendable {
    public enum ServingStatus: Int, Sendable {
        case unknown = 0, serving = 1, notServing = 2, serviceUnknown = 3
    }

    public var status: ServingStatus

    public init(status: ServingStatus) { self.status = status }
}

/// The methods TNTServe serves, by gRPC-style full name.
public enum Method {
    public static let predict = "/tnt.v1.Classifier/Predict"
    public static let listModels = "/tnt.v1.Models/List"
    public static let getModel = "/tnt.v1.Models/Get"
    public static let healthCheck = "/tnt.v1.Health/Check"
}
