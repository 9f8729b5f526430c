import Testing
@testable import TNTProtocol

@Suite struct MessageCodingTests {
    @Test func everyMessageRoundTrips() throws {
        let request = PredictRequest(model: "tnt_small", inputs: [
            .encodedImage([0x89, 0x50, 0, 255]), .tensor(shape: [3, 2, 2], data: (0..<12).map { Float($0) / 3 }),
            .rgb(width: 1, height: 2, pixels: [1, 2, 3, 4, 5, 6]),
        ], topK: 7, returnProbabilities: true, returnLogits: false, returnFeatures: true)
        #expect(try PredictRequest(protobuf: request.protobuf()) == request)
        let response = PredictResponse(model: "m", results: [
            Classification(classIDs: [3, 1], scores: [0.75, 0.25], labelNames: ["cat", "dog"], probabilities: [0.1, 0.9],
                           logits: [-1, 2.5], features: [0.5], timings: Timings(queueMicros: 1, preprocessMicros: 2, computeMicros: 3, batchSize: 4)),
            Classification(classIDs: [], scores: []),
        ])
        #expect(try PredictResponse(protobuf: response.protobuf()) == response)
        let envelope = RequestEnvelope(method: Method.predict, timeoutMicros: 1_500_000,
                                       metadata: [MetadataEntry("x-request-id", "42"), MetadataEntry("ü", "ß")], payload: request.protobuf())
        #expect(try RequestEnvelope(protobuf: envelope.protobuf()) == envelope)
        let answer = ResponseEnvelope(status: .deadlineExceeded, message: "late", metadata: [], payload: [])
        #expect(try ResponseEnvelope(protobuf: answer.protobuf()) == answer)
        let goAway = GoAway(lastStreamID: 99, status: .unavailable, message: "draining")
        #expect(try GoAway(protobuf: goAway.protobuf()) == goAway)
        let info = ModelInfo(name: "a", architecture: "tnt_base", inputShape: [3, 224, 224], classes: 1000, parameters: 65_000_000,
                             weightsSHA256: "ab", state: .failed, stateReason: "why", hasLabels: true)
        #expect(try ModelInfo(protobuf: info.protobuf()) == info)
        #expect(try ListModelsResponse(protobuf: ListModelsResponse(models: [info, info]).protobuf()).models == [info, info])
        #expect(try GetModelRequest(protobuf: GetModelRequest(name: "x").protobuf()).name == "x")
        #expect(try HealthCheckRequest(protobuf: HealthCheckRequest(service: "s").protobuf()).service == "s")
        #expect(try HealthCheckResponse(protobuf: HealthCheckResponse(status: .notServing).protobuf()).status == .notServing)
        #expect(try ListModelsRequest(protobuf: []) == ListModelsRequest())
    }

    /// Empty bytes are a valid message with every field at its default.
    @Test func emptyBytesAreDefaults() throws {
        let envelope = try RequestEnvelope(protobuf: [])
        #expect(envelope.method == "" && envelope.timeoutMicros == 0 && envelope.payload.isEmpty)
        #expect(try PredictRequest(protobuf: []).inputs.isEmpty)
    }

    /// Random and mutated bytes: a message or `MalformedMessage`, never a crash.
    @Test func garbageIsRejectedOrParsed() throws {
        var rng = SystemRandomNumberGenerator()
        let valid = PredictRequest(inputs: [.tensor(shape: [3, 1, 1], data: [1, 2, 3]), .encodedImage([1, 2])], topK: 2).protobuf()
        var parsed = 0, rejected = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            do {
                _ = try PredictRequest(protobuf: bytes)
                _ = try RequestEnvelope(protobuf: bytes)
                parsed += 1
            } catch is MalformedMessage {
                rejected += 1
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                rejected += 1
            }
        }
        #expect(parsed + rejected == 20_000 && rejected > 0)
    }

    @Test func statusCodesHaveGRPCNamesAndNumbers() {
        #expect(StatusCode.deadlineExceeded.rawValue == 4 && StatusCode.deadlineExceeded.name == "DEADLINE_EXCEEDED")
        #expect(StatusCode.unavailable.rawValue == 14 && StatusCode.unauthenticated.rawValue == 16)
        #expect(StatusCode(name: "resource_exhausted") == .resourceExhausted)
        #expect(StatusCode(rawValue: 99).name == "CODE_99")
    }
}
