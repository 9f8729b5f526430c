import Foundation
import Testing
import TNTClient
import TNTModel
import TNTProtocol

/// Reloading the model repository (SIGHUP) while calls stream in.
@Suite(.serialized) struct ReloadTests {
    @Test func callsKeepSucceedingWhileWeightsAreReplaced() async throws {
        let server = try ServerProcess()
        defer { #expect(server.stop() == 0) }
        let client = try TNTClient(endpoints: [server.endpoint], retry: .none)
        let image = try TestImages.bytes(TestImages.paths[0])
        let before = try await client.model(named: "tiny")

        let stop = Flag(), done = Counter()
        let streaming = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.isRaised {
                            _ = try await client.predict(image: image, model: "tiny")
                            done.increment()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        while done.value < 20 { try await Task.sleep(for: .milliseconds(5)) }

        // New weights for the same architecture, put in place by rename (the old file stays
        // mapped until its model retires), and a new model beside it.
        let config = try TNTConfig.decode(json: Data(contentsOf: URL(fileURLWithPath: server.repository + "/tiny/model.json"))
            .jsonArchitecture())
        let staged = server.repository + "/tiny/weights.new"
        try SafeTensorsWriter.write(SafeTensorsWriter.randomWeights(config: config, seed: 99), to: staged)
        #expect(rename(staged, server.repository + "/tiny/weights.safetensors") == 0)
        try FileManager.default.copyItem(atPath: server.repository + "/tiny", toPath: server.repository + "/tiny2")
        kill(server.process.processIdentifier, SIGHUP)

        var after = before
        for _ in 0..<200 where after.weightsSHA256 == before.weightsSHA256 {
            try await Task.sleep(for: .milliseconds(20))
            after = try await client.model(named: "tiny")
        }
        #expect(after.weightsSHA256 != before.weightsSHA256, "the new weights were swapped in")
        #expect(after.state == .ready)
        let servedBefore = done.value
        while done.value < servedBefore + 20 { try await Task.sleep(for: .milliseconds(5)) }

        // A reload that fails keeps the previous version serving.
        try #"{"architecture": "tnt_small", "weights": "weights.safetensors"}"#
            .write(toFile: server.repository + "/tiny/model.json.new", atomically: false, encoding: .utf8)
        #expect(rename(server.repository + "/tiny/model.json.new", server.repository + "/tiny/model.json") == 0)
        kill(server.process.processIdentifier, SIGHUP)
        for _ in 0..<250 where !server.stderr.contains("reload failed") { try await Task.sleep(for: .milliseconds(20)) }
        let failedReload = try await client.model(named: "tiny")
        #expect(failedReload.state == .ready && failedReload.weightsSHA256 == after.weightsSHA256)
        let servedAfterFailure = done.value
        while done.value < servedAfterFailure + 20 { try await Task.sleep(for: .milliseconds(5)) }

        stop.raise()
        try await streaming.value  // throws if any call failed
        #expect(try await client.listModels().map(\.name).contains("tiny2"))
        #expect(try await client.predict(image: image, model: "tiny2").classIDs.count == 5)
        #expect(server.stderr.contains("reload failed; the previous version keeps serving"))
        await client.close()
    }
}

private extension Data {
    /// The "architecture" object of a model.json, as JSON.
    func jsonArchitecture() throws -> Data {
        let object = try JSONSerialization.jsonObject(with: self) as! [String: Any]
        return try JSONSerialization.data(withJSONObject: object["architecture"]!)
    }
}
