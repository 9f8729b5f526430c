import CProtobufC
import NIOCore
import CTNTProto

// Each message's conversion to and from its protobuf-c struct.

extension MetadataEntry {
    init(_ c: Tnt__V1__MetadataEntry) { self.init(swiftString(c.key), swiftString(c.value)) }

    func c(_ arena: CArena) -> UnsafeMutablePointer<Tnt__V1__MetadataEntry> {
        let m = arena.new(Tnt__V1__MetadataEntry.self)
        tnt__v1__metadata_entry__init(m)
        m.pointee.key = arena.string(key)
        m.pointee.value = arena.string(value)
        return m
    }
}

extension RequestEnvelope: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Self(protobuf: $0) }
    }

    /// From a received frame's payload, without copying it first.
    public init(protobuf buffer: ByteBuffer) throws {
        self = try buffer.withUnsafeReadableBytes { try Self(protobuf: $0) }
    }

    init(protobuf bytes: UnsafeRawBufferPointer) throws {
        self = try unpacked(bytes, "RequestEnvelope", descriptor: tnt__v1__request_envelope__descriptor, unpack: tnt__v1__request_envelope__unpack,
                            free: tnt__v1__request_envelope__free_unpacked) { c in
            RequestEnvelope(method: swiftString(c.method), timeoutMicros: c.timeout_us,
                            metadata: swiftMessages(c.metadata, c.n_metadata, MetadataEntry.init),
                            payload: swiftBytes(c.payload))
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__RequestEnvelope.self)
            tnt__v1__request_envelope__init(m)
            m.pointee.method = arena.string(method)
            m.pointee.timeout_us = timeoutMicros
            m.pointee.n_metadata = metadata.count
            m.pointee.metadata = arena.messages(metadata) { $0.c(arena) }
            m.pointee.payload = arena.bytes(payload)
            return m
        }, size: tnt__v1__request_envelope__get_packed_size, pack: tnt__v1__request_envelope__pack)
    }
}

extension ResponseEnvelope: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "ResponseEnvelope", descriptor: tnt__v1__response_envelope__descriptor, unpack: tnt__v1__response_envelope__unpack,
                            free: tnt__v1__response_envelope__free_unpacked) { c in
            ResponseEnvelope(status: StatusCode(rawValue: c.status), message: swiftString(c.message),
                             metadata: swiftMessages(c.metadata, c.n_metadata, MetadataEntry.init),
                             payload: swiftBytes(c.payload))
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__ResponseEnvelope.self)
            tnt__v1__response_envelope__init(m)
            m.pointee.status = status.rawValue
            m.pointee.message = arena.string(message)
            m.pointee.n_metadata = metadata.count
            m.pointee.metadata = arena.messages(metadata) { $0.c(arena) }
            m.pointee.payload = arena.bytes(payload)
            return m
        }, size: tnt__v1__response_envelope__get_packed_size, pack: tnt__v1__response_envelope__pack)
    }
}

extension GoAway: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "GoAway", descriptor: tnt__v1__go_away__descriptor, unpack: tnt__v1__go_away__unpack, free: tnt__v1__go_away__free_unpacked) { c in
            GoAway(lastStreamID: c.last_stream_id, status: StatusCode(rawValue: c.status), message: swiftString(c.message))
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__GoAway.self)
            tnt__v1__go_away__init(m)
            m.pointee.last_stream_id = lastStreamID
            m.pointee.status = status.rawValue
            m.pointee.message = arena.string(message)
            return m
        }, size: tnt__v1__go_away__get_packed_size, pack: tnt__v1__go_away__pack)
    }
}

extension PredictInput {
    init(_ c: Tnt__V1__Input) throws {
        switch c.kind_case {
        case TNT__V1__INPUT__KIND_ENCODED_IMAGE:
            self = .encodedImage(swiftBytes(c.encoded_image))
        case TNT__V1__INPUT__KIND_TENSOR:
            guard let t = c.tensor?.pointee else { throw MalformedMessage(type: "Tensor", byteCount: 0) }
            self = .tensor(shape: swiftArray(t.shape, t.n_shape).map { Int($0) }, data: swiftArray(t.data, t.n_data))
        case TNT__V1__INPUT__KIND_RGB:
            guard let r = c.rgb?.pointee else { throw MalformedMessage(type: "RGBImage", byteCount: 0) }
            self = .rgb(width: Int(r.width), height: Int(r.height), pixels: swiftBytes(r.pixels))
        default:
            throw RPCError(.invalidArgument, "an input sets none of encoded_image, tensor or rgb")
        }
    }

    func c(_ arena: CArena) -> UnsafeMutablePointer<Tnt__V1__Input> {
        let m = arena.new(Tnt__V1__Input.self)
        tnt__v1__input__init(m)
        switch self {
        case .encodedImage(let bytes):
            m.pointee.kind_case = TNT__V1__INPUT__KIND_ENCODED_IMAGE
            m.pointee.encoded_image = arena.bytes(bytes)
        case .tensor(let shape, let data):
            let t = arena.new(Tnt__V1__Tensor.self)
            tnt__v1__tensor__init(t)
            t.pointee.n_shape = shape.count
            t.pointee.shape = arena.array(shape.map { Int64($0) })
            t.pointee.n_data = data.count
            t.pointee.data = arena.array(data)
            m.pointee.kind_case = TNT__V1__INPUT__KIND_TENSOR
            m.pointee.tensor = t
        case .rgb(let width, let height, let pixels):
            let r = arena.new(Tnt__V1__RGBImage.self)
            tnt__v1__rgbimage__init(r)
            r.pointee.width = UInt32(clamping: width)
            r.pointee.height = UInt32(clamping: height)
            r.pointee.pixels = arena.bytes(pixels)
            m.pointee.kind_case = TNT__V1__INPUT__KIND_RGB
            m.pointee.rgb = r
        }
        return m
    }
}

extension PredictRequest: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "PredictRequest", descriptor: tnt__v1__predict_request__descriptor, unpack: tnt__v1__predict_request__unpack,
                            free: tnt__v1__predict_request__free_unpacked) { c in
            PredictRequest(model: swiftString(c.model), inputs: try swiftMessages(c.inputs, c.n_inputs, PredictInput.init),
                           topK: Int(c.top_k), returnProbabilities: c.return_probabilities != 0,
                           returnLogits: c.return_logits != 0, returnFeatures: c.return_features != 0)
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__PredictRequest.self)
            tnt__v1__predict_request__init(m)
            m.pointee.model = arena.string(model)
            m.pointee.n_inputs = inputs.count
            m.pointee.inputs = arena.messages(inputs) { $0.c(arena) }
            m.pointee.top_k = UInt32(clamping: topK)
            m.pointee.return_probabilities = returnProbabilities ? 1 : 0
            m.pointee.return_logits = returnLogits ? 1 : 0
            m.pointee.return_features = returnFeatures ? 1 : 0
            return m
        }, size: tnt__v1__predict_request__get_packed_size, pack: tnt__v1__predict_request__pack)
    }
}

extension Classification {
    init(_ c: Tnt__V1__Classification) {
        let t = c.timings?.pointee
        self.init(classIDs: swiftArray(c.class_ids, c.n_class_ids).map { Int($0) }, scores: swiftArray(c.scores, c.n_scores),
                  labelNames: swiftArray(c.label_names, c.n_label_names).map(swiftString),
                  probabilities: swiftArray(c.probabilities, c.n_probabilities), logits: swiftArray(c.logits, c.n_logits),
                  features: swiftArray(c.features, c.n_features),
                  timings: Timings(queueMicros: t?.queue_us ?? 0, preprocessMicros: t?.preprocess_us ?? 0,
                                   computeMicros: t?.compute_us ?? 0, batchSize: Int(t?.batch_size ?? 0)))
    }

    func c(_ arena: CArena) -> UnsafeMutablePointer<Tnt__V1__Classification> {
        let m = arena.new(Tnt__V1__Classification.self)
        tnt__v1__classification__init(m)
        m.pointee.n_class_ids = classIDs.count
        m.pointee.class_ids = arena.array(classIDs.map { Int32(clamping: $0) })
        m.pointee.n_scores = scores.count
        m.pointee.scores = arena.array(scores)
        m.pointee.n_label_names = labelNames.count
        m.pointee.label_names = arena.array(labelNames.map { Optional(arena.string($0)) })
        m.pointee.n_probabilities = probabilities.count
        m.pointee.probabilities = arena.array(probabilities)
        m.pointee.n_logits = logits.count
        m.pointee.logits = arena.array(logits)
        m.pointee.n_features = features.count
        m.pointee.features = arena.array(features)
        let t = arena.new(Tnt__V1__Timings.self)
        tnt__v1__timings__init(t)
        t.pointee.queue_us = timings.queueMicros
        t.pointee.preprocess_us = timings.preprocessMicros
        t.pointee.compute_us = timings.computeMicros
        t.pointee.batch_size = UInt32(clamping: timings.batchSize)
        m.pointee.timings = t
        return m
    }
}

extension PredictResponse: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "PredictResponse", descriptor: tnt__v1__predict_response__descriptor, unpack: tnt__v1__predict_response__unpack,
                            free: tnt__v1__predict_response__free_unpacked) { c in
            PredictResponse(model: swiftString(c.model), results: swiftMessages(c.results, c.n_results, Classification.init))
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__PredictResponse.self)
            tnt__v1__predict_response__init(m)
            m.pointee.model = arena.string(model)
            m.pointee.n_results = results.count
            m.pointee.results = arena.messages(results) { $0.c(arena) }
            return m
        }, size: tnt__v1__predict_response__get_packed_size, pack: tnt__v1__predict_response__pack)
    }
}

extension ListModelsRequest: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "ListModelsRequest", descriptor: tnt__v1__list_models_request__descriptor, unpack: tnt__v1__list_models_request__unpack,
                            free: tnt__v1__list_models_request__free_unpacked) { _ in ListModelsRequest() }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__ListModelsRequest.self)
            tnt__v1__list_models_request__init(m)
            return m
        }, size: tnt__v1__list_models_request__get_packed_size, pack: tnt__v1__list_models_request__pack)
    }
}

extension GetModelRequest: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "GetModelRequest", descriptor: tnt__v1__get_model_request__descriptor, unpack: tnt__v1__get_model_request__unpack,
                            free: tnt__v1__get_model_request__free_unpacked) { c in GetModelRequest(name: swiftString(c.name)) }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__GetModelRequest.self)
            tnt__v1__get_model_request__init(m)
            m.pointee.name = arena.string(name)
            return m
        }, size: tnt__v1__get_model_request__get_packed_size, pack: tnt__v1__get_model_request__pack)
    }
}

extension ModelInfo: ProtobufMessage {
    init(_ c: Tnt__V1__ModelInfo) {
        self.init(name: swiftString(c.name), architecture: swiftString(c.architecture),
                  inputShape: swiftArray(c.input_shape, c.n_input_shape).map { Int($0) }, classes: Int(c.classes),
                  parameters: Int(c.parameters), weightsSHA256: swiftString(c.weights_sha256),
                  state: State(rawValue: Int(c.state.rawValue)) ?? .unspecified, stateReason: swiftString(c.state_reason),
                  hasLabels: c.has_labels != 0)
    }

    func c(_ arena: CArena) -> UnsafeMutablePointer<Tnt__V1__ModelInfo> {
        let m = arena.new(Tnt__V1__ModelInfo.self)
        tnt__v1__model_info__init(m)
        m.pointee.name = arena.string(name)
        m.pointee.architecture = arena.string(architecture)
        m.pointee.n_input_shape = inputShape.count
        m.pointee.input_shape = arena.array(inputShape.map { Int64($0) })
        m.pointee.classes = UInt32(clamping: classes)
        m.pointee.parameters = UInt64(parameters)
        m.pointee.weights_sha256 = arena.string(weightsSHA256)
        m.pointee.state = Tnt__V1__ModelInfo__State(rawValue: UInt32(state.rawValue))
        m.pointee.state_reason = arena.string(stateReason)
        m.pointee.has_labels = hasLabels ? 1 : 0
        return m
    }

    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "ModelInfo", descriptor: tnt__v1__model_info__descriptor, unpack: tnt__v1__model_info__unpack,
                            free: tnt__v1__model_info__free_unpacked, ModelInfo.init)
    }

    public func protobuf() -> [UInt8] {
        packed({ c($0) }, size: tnt__v1__model_info__get_packed_size, pack: tnt__v1__model_info__pack)
    }
}

extension ListModelsResponse: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "ListModelsResponse", descriptor: tnt__v1__list_models_response__descriptor, unpack: tnt__v1__list_models_response__unpack,
                            free: tnt__v1__list_models_response__free_unpacked) { c in
            ListModelsResponse(models: swiftMessages(c.models, c.n_models, ModelInfo.init))
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__ListModelsResponse.self)
            tnt__v1__list_models_response__init(m)
            m.pointee.n_models = models.count
            m.pointee.models = arena.messages(models) { $0.c(arena) }
            return m
        }, size: tnt__v1__list_models_response__get_packed_size, pack: tnt__v1__list_models_response__pack)
    }
}

extension HealthCheckRequest: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "HealthCheckRequest", descriptor: tnt__v1__health_check_request__descriptor, unpack: tnt__v1__health_check_request__unpack,
                            free: tnt__v1__health_check_request__free_unpacked) { c in HealthCheckRequest(service: swiftString(c.service)) }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__HealthCheckRequest.self)
            tnt__v1__health_check_request__init(m)
            m.pointee.service = arena.string(service)
            return m
        }, size: tnt__v1__health_check_request__get_packed_size, pack: tnt__v1__health_check_request__pack)
    }
}

extension HealthCheckResponse: ProtobufMessage {
    public init(protobuf bytes: [UInt8]) throws {
        self = try unpacked(bytes, "HealthCheckResponse", descriptor: tnt__v1__health_check_response__descriptor, unpack: tnt__v1__health_check_response__unpack,
                            free: tnt__v1__health_check_response__free_unpacked) { c in
            HealthCheckResponse(status: ServingStatus(rawValue: Int(c.status.rawValue)) ?? .unknown)
        }
    }

    public func protobuf() -> [UInt8] {
        packed({ arena in
            let m = arena.new(Tnt__V1__HealthCheckResponse.self)
            tnt__v1__health_check_response__init(m)
            m.pointee.status = Tnt__V1__HealthCheckResponse__ServingStatus(rawValue: UInt32(status.rawValue))
            return m
        }, size: tnt__v1__health_check_response__get_packed_size, pack: tnt__v1__health_check_response__pack)
    }
}
