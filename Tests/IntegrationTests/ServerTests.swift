import Foundation
import NIOCore
import Testing
import TNTClient
import TNTImage
import TNTModel
import TNTProtocol

/// Against a real tnt-server process on loopback.
@Suite(.serialized) struct ServerTests {
    /// What the server must answer, computed in this process with the same modules, kernels
    /// and threads as the server's defaults (a batch of one on every core).
    static func inProcess(_ image: [UInt8], topK: Int = 5) throws -> (ids: [Int], scores: [Float]) {
        let fixture = ServerProcess.repositoryRoot.appendingPathComponent("Tests/TNTModelTests/Fixtures/tiny-sharp").path
        let config = try TNTConfig.decode(json: Data(contentsOf: URL(fileURLWithPath: fixture + "/config.json")))
        let engine = TNTEngine(weights: try TNTWeights(config: config, path: fixture + "/weights.safetensors"), maxBatch: 1,
                               threads: CPUBudget.cores)
        var preprocess = PreprocessConfig()
        preprocess.cropSize = 64
        preprocess.resizeShort = 71  // the server's default for 64x64 models: 248/224 of the crop
        let tensor = try Preprocessor.tensor(try ImageDecoder.decode(image), config: preprocess)
        let logits = engine.run(input: tensor).logits
        let probabilities = logits.withUnsafeBufferPointer { Classify.softmax($0) }
        let ids = Classify.topK(probabilities, k: topK)
        return (ids, ids.map { probabilities[$0] })
    }

    @Test func predictionsEqualInProcessResultsBitForBit() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        for path in TestImages.paths {
            let image = try TestImages.bytes(path)
            let response = try await client.predict(PredictRequest(model: "tiny", inputs: [.encodedImage(image)], topK: 5))
            let expected = try Self.inProcess(image)
            let result = try #require(response.results.first)
            #expect(result.classIDs == expected.ids, "\(path)")
            #expect(result.scores == expected.scores, "\(path): scores not bit-identical")
            #expect(result.labelNames == expected.ids.map { "digit \($0)" })
            #expect(result.timings.batchSize >= 1 && result.timings.computeMicros > 0)
        }
        await client.close()
    }

    @Test func manyInputsKindsAndOptionsInOneCall() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        let decoded = try ImageDecoder.decode(image)
        var preprocess = PreprocessConfig()
        preprocess.cropSize = 64
        preprocess.resizeShort = 71
        let tensor = try Preprocessor.tensor(decoded, config: preprocess)
        let response = try await client.predict(PredictRequest(
            inputs: [.encodedImage(image), .rgb(width: decoded.width, height: decoded.height, pixels: decoded.pixels),
                     .tensor(shape: [3, 64, 64], data: tensor)],
            topK: 3, returnProbabilities: true, returnLogits: true, returnFeatures: true))
        #expect(response.model == "tiny")
        #expect(response.results.count == 3)
        // The same image three ways; rows at different places of a batch may differ in the last bit.
        for result in response.results {
            #expect(result.classIDs == response.results[0].classIDs)
            #expect(zip(result.scores, response.results[0].scores).allSatisfy { abs($0 - $1) <= 1e-6 })
            #expect(result.probabilities.count == 10 && result.logits.count == 10 && result.features.count == 128)
            #expect(abs(result.probabilities.reduce(0, +) - 1) < 1e-5)
        }
        await client.close()
    }

    /// 200 calls at once on one connection, then spread over 8 connections.
    @Test func twoHundredConcurrentCalls() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let images = try TestImages.paths.map(TestImages.bytes)
        let expected = try images.map { try Self.inProcess($0).ids }
        let shared = try await server.client()
        var clients: [TNTClient] = []
        for _ in 0..<8 { clients.append(try await server.client()) }
        for spread in [false, true] {
            let answers = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
                for i in 0..<200 {
                    let client = spread ? clients[i % 8] : shared
                    group.addTask {
                        let response = try await client.predict(PredictRequest(inputs: [.encodedImage(images[i % images.count])]))
                        return (i, response.results[0].classIDs)
                    }
                }
                var all: [Int: [Int]] = [:]
                for try await (i, ids) in group { all[i] = ids }
                return all
            }
            #expect(answers.count == 200)
            for (i, ids) in answers { #expect(ids == expected[i % images.count]) }
        }
        for client in clients { await client.close() }
        await shared.close()
    }

    @Test func errorsCarryTheirStatusAndTheConnectionKeepsWorking() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let connection = try await server.connection()

        // Unknown method.
        var response = try await connection.call(RequestEnvelope(method: "/tnt.v1.Nope/Nothing", payload: []))
        #expect(response.status == .unimplemented)
        #expect(response.message.contains("/tnt.v1.Nope/Nothing"))
        // A method message protobuf-c cannot parse.
        response = try await connection.call(RequestEnvelope(method: Method.predict, payload: [0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(response.status == .invalidArgument)
        #expect(response.message.contains("malformed"))
        // A REQUEST frame whose envelope is garbage.
        response = try await connection.call(rawEnvelope: [0x0A, 0xFF, 0x01])
        #expect(response.status == .invalidArgument)
        #expect(response.message.contains("RequestEnvelope"))
        // A bad image names the problem.
        await #expect {
            try await client.predict(PredictRequest(inputs: [.encodedImage(Array("not an image".utf8))]))
        } throws: { error in
            guard let error = error as? RPCError else { return false }
            return error.code == .invalidArgument && error.message.contains("not a PNG or JPEG")
        }
        await #expect { try await client.predict(PredictRequest(inputs: [.rgb(width: 4, height: 4, pixels: [1, 2, 3])])) } throws: { error in
            (error as? RPCError)?.code == .invalidArgument && "\(error)".contains("needs 48 bytes")
        }
        await #expect { try await client.predict(PredictRequest(inputs: [.tensor(shape: [3, 8, 8], data: [])])) } throws: { error in
            (error as? RPCError)?.code == .invalidArgument && "\(error)".contains("[3, 64, 64]")
        }
        await #expect { try await client.predict(PredictRequest(model: "nope", inputs: [.encodedImage([1])])) } throws: { error in
            (error as? RPCError)?.code == .notFound && "\(error)".contains("broken, tiny")
        }
        await #expect { try await client.predict(PredictRequest(model: "broken", inputs: [.encodedImage([1])])) } throws: { error in
            (error as? RPCError)?.code == .failedPrecondition && "\(error)".contains("missing.safetensors")
        }
        await #expect { try await client.predict(PredictRequest(inputs: [])) } throws: { error in
            (error as? RPCError)?.code == .invalidArgument
        }
        // Still serving on the same connection.
        #expect(try await client.health() == .serving)
        let image = try TestImages.bytes(TestImages.paths[0])
        #expect(try await client.predict(PredictRequest(inputs: [.encodedImage(image)])).results.count == 1)
        _ = try await connection.ping()
        await client.close()
    }

    @Test func deadlineExpiredInTheQueueIsNeverComputed() async throws {
        // The first input of a batch waits up to 3 s for others: long enough for a deadline.
        let server = try ServerProcess(["--max-queue-delay-us", "3000000", "--max-batch", "64"])
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        await #expect {
            try await client.predict(PredictRequest(inputs: [.encodedImage(image)]), options: CallOptions(timeout: .milliseconds(100)))
        } throws: { error in (error as? RPCError)?.code == .deadlineExceeded }
        // Once the worker takes the batch, it skips the expired input.
        try await Task.sleep(for: .seconds(3.5))
        #expect(server.stderr.contains("input not computed"))
        await client.close()
    }

    @Test func cancelledCallIsAnsweredCancelled() async throws {
        let server = try ServerProcess(["--max-queue-delay-us", "3000000", "--max-batch", "64"])
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        let request = RequestEnvelope(method: Method.predict, payload: PredictRequest(inputs: [.encodedImage(image)]).protobuf())
        let connection = try await server.connection()
        let (id, response) = try await connection.start(request)
        connection.cancel(streamID: id)
        let answer = try await response.get()
        #expect(answer.status == .cancelled)
        #expect(try await client.health() == .serving)
        await client.close()
    }

    @Test func fullQueueIsRefusedAtOnce() async throws {
        let server = try ServerProcess(["--queue-size", "4", "--max-queue-delay-us", "3000000", "--max-batch", "64"])
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        let filler = RequestEnvelope(method: Method.predict, payload: PredictRequest(inputs: Array(repeating: .encodedImage(image), count: 4)).protobuf())
        let connection = try await server.connection()
        let (_, first) = try await connection.start(filler)
        let firstAnswered = Flag()
        first.whenComplete { _ in firstAnswered.raise() }
        let refused = try await connection.call(RequestEnvelope(method: Method.predict, payload: PredictRequest(inputs: [.encodedImage(image)]).protobuf()))
        #expect(refused.status == .unavailable)
        #expect(refused.message.contains("queue"))
        // Refused while the queued call still waits for its batch: answered without waiting.
        #expect(!firstAnswered.isRaised)
        #expect(try await first.get().status == .ok)
        await client.close()
    }

    @Test func oversizedFrameClosesOnlyThatConnection() async throws {
        let server = try ServerProcess(["--max-frame-bytes", "4096"])
        defer { #expect(server.stop() == 0) }
        let bystander = try await server.client()
        let victim = try await server.connection()
        var header = ByteBuffer()
        header.writeInteger(UInt32(1 << 20))
        header.writeInteger(FrameType.request.rawValue)
        header.writeInteger(UInt8(0))
        header.writeInteger(UInt16(0))
        header.writeInteger(UInt32(1))
        try await victim.writeRaw(Array(header.readableBytesView))
        try await victim.closeFuture.get()
        let goAway = try #require(try await victim.goAway())
        #expect(goAway.status == .resourceExhausted)
        #expect(goAway.message.contains("above the maximum of 4096"))
        #expect(try await bystander.health() == .serving)
        // A frame under the limit is fine on a new connection; one above it is not.
        let image = try TestImages.bytes(TestImages.paths[0])
        #expect(image.count > 4096)
        await #expect { try await bystander.predict(PredictRequest(inputs: [.encodedImage(image)])) } throws: { error in
            (error as? RPCError)?.code == .unavailable
        }
        await bystander.close()
    }

    @Test func shutdownAnswersEveryAcceptedCall() async throws {
        let server = try ServerProcess(["--max-queue-delay-us", "300000", "--max-batch", "4"])
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        let connection = try await server.connection()
        var calls: [EventLoopFuture<ResponseEnvelope>] = []
        for _ in 0..<20 {
            calls.append(try await connection.start(RequestEnvelope(method: Method.predict,
                                                                            payload: PredictRequest(inputs: [.encodedImage(image)]).protobuf())).response)
        }
        _ = try await connection.ping()  // every REQUEST has reached the server
        kill(server.process.processIdentifier, SIGTERM)
        for call in calls { #expect(try await call.get().status == .ok) }
        let goAway = try await connection.goAway()
        #expect(goAway?.status == .unavailable)
        #expect(server.stop() == 0)
        await client.close()
    }

    @Test func modelsAndHealth() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let client = try await server.client()
        let models = try await client.listModels()
        #expect(models.map(\.name) == ["broken", "tiny"])
        let tiny = try await client.model(named: "tiny")
        #expect(tiny.state == .ready && tiny.architecture == "custom" && tiny.inputShape == [3, 64, 64] && tiny.classes == 10)
        #expect(tiny.weightsSHA256 == SHA256.hex(try TestImages.bytes("Tests/TNTModelTests/Fixtures/tiny-sharp/weights.safetensors")))
        #expect(tiny.hasLabels && tiny.parameters > 300_000)
        let broken = try await client.model(named: "broken")
        #expect(broken.state == .failed && broken.stateReason.contains("missing.safetensors"))
        #expect(try await client.health() == .serving)
        #expect(try await client.health(service: "tiny") == .serving)
        #expect(try await client.health(service: "broken") == .notServing)
        await #expect { try await client.health(service: "nope") } throws: { error in (error as? RPCError)?.code == .notFound }
        await #expect { try await client.model(named: "nope") } throws: { error in (error as? RPCError)?.code == .notFound }
        await client.close()
    }

    @Test func wrongPeerAndBadStreamIDsCloseTheConnection() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        // An HTTP client is not a TNTServe peer: it gets the server's preface and a GOAWAY
        // naming the problem, then the connection closes.
        let reply = try rawExchange(port: server.port, send: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(Array(reply.prefix(8)) == ConnectionPreface.bytes)
        #expect(String(decoding: reply, as: UTF8.self).contains("not a TNTServe peer"))
        // Stream ids must increase.
        let connection = try await server.connection()
        _ = try await connection.call(RequestEnvelope(method: Method.healthCheck, payload: []))
        try await connection.writeRaw(rawFrame(type: .request, streamID: 1, payload: []))
        try await connection.closeFuture.get()
        #expect(try await connection.goAway()?.message.contains("stream id") == true)
    }
}

func rawFrame(type: FrameType, streamID: UInt32, payload: [UInt8]) -> [UInt8] {
    var buffer = ByteBuffer()
    FrameEncoder.write(Frame(type: type, streamID: streamID, payload: ByteBuffer(bytes: payload)), to: &buffer)
    return Array(buffer.readableBytesView)
}

/// Sends `bytes` on a plain TCP socket and reads until the server closes it.
func rawExchange(port: Int, send bytes: [UInt8]) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw RPCError(.unavailable, "connect failed") }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        received += chunk[0..<n]
    }
    return received
}

/// The per-connection, per-server and idle limits.
@Suite(.serialized) struct LimitTests {
    @Test func callsPerConnectionLimit() async throws {
        let server = try ServerProcess(["--max-calls-per-connection", "2", "--max-queue-delay-us", "2000000", "--max-batch", "64"])
        defer { #expect(server.stop() == 0) }
        let connection = try await server.connection()
        let image = try TestImages.bytes(TestImages.paths[0])
        let request = RequestEnvelope(method: Method.predict, payload: PredictRequest(inputs: [.encodedImage(image)]).protobuf())
        let (_, first) = try await connection.start(request)
        let (_, second) = try await connection.start(request)
        let third = try await connection.call(request)
        #expect(third.status == .resourceExhausted)
        #expect(third.message.contains("limit is 2"))
        #expect(try await first.get().status == .ok)
        #expect(try await second.get().status == .ok)
    }

    @Test func connectionLimit() async throws {
        let server = try ServerProcess(["--max-connections", "1"])
        defer { #expect(server.stop() == 0) }
        let first = try await server.client()
        #expect(try await first.health() == .serving)
        let second = try await server.connection()
        try await second.closeFuture.get()
        let goAway = try #require(try await second.goAway())
        #expect(goAway.status == .resourceExhausted && goAway.message.contains("limit of 1 connections"))
        #expect(try await first.health() == .serving)
        await first.close()
    }

    @Test func idleConnectionIsSentGoAway() async throws {
        let server = try ServerProcess(["--idle-timeout", "1"])
        defer { #expect(server.stop() == 0) }
        let connection = try await server.connection()
        _ = try await connection.ping()
        try await connection.closeFuture.get()
        let goAway = try #require(try await connection.goAway())
        #expect(goAway.status == .ok && goAway.message.contains("idle"))
    }
}
