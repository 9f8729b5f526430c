import ArgumentParser
import Foundation
import TNTClient
import TNTProtocol

struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a running tnt-server: class ids, scores, label names per file."
    )

    @Option(help: "The server, HOST:PORT.") var server: String
    @Option(help: "Model name; the server's default when absent.") var model = ""
    @Option(help: "Classes per image.") var topK = 5
    @Option(help: "Deadline per call in seconds.") var timeout: Double?
    @Flag(help: "Print PaddleClas's predictor JSON (class_ids, scores, label_names, file_name).") var json = false
    @Argument(help: "PNG or JPEG files.") var images: [String]

    func run() async throws {
        let client = try await TNTClient.connect(server)
        var inputs: [PredictInput] = []
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
            inputs.append(.encodedImage([UInt8](data)))
        }
        let response = try await client.predict(PredictRequest(model: model, inputs: inputs, topK: topK),
                                                options: CallOptions(timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }))
        await client.close()
        printResults(response.results, files: images, json: json)
    }
}

/// PaddleClas's predictor output: one entry per file.
func printResults(_ results: [Classification], files: [String], json: Bool) {
    if json {
        let entries: [[String: Any]] = zip(results, files).map { result, file in
            ["class_ids": result.classIDs, "scores": result.scores.map { Double($0) }, "label_names": result.labelNames, "file_name": file]
        }
        let data = try! JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
        return
    }
    for (result, file) in zip(results, files) {
        print(file)
        for (i, id) in result.classIDs.enumerated() {
            let label = i < result.labelNames.count ? "  \(result.labelNames[i])" : ""
            print(String(format: "  %5d  %.5f", id, result.scores[i]) + label)
        }
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask a server's health; exits 0 only when SERVING (usable as a container probe)."
    )

    @Option(help: "The server, HOST:PORT.") var server: String
    @Option(help: "A model name; the whole server when empty.") var service = ""
    @Option(help: "Seconds to wait for the answer.") var timeout = 3.0

    func run() async throws {
        let status: HealthCheckResponse.ServingStatus
        do {
            let client = try await TNTClient.connect(server, retry: .none)
            status = try await client.health(service: service, options: CallOptions(timeout: .milliseconds(Int64(timeout * 1000))))
            await client.close()
        } catch {
            print("NOT_SERVING (\(error))")
            throw ExitCode(1)
        }
        print(status == .serving ? "SERVING" : "\(status)".uppercased())
        if status != .serving { throw ExitCode(1) }
    }
}

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List a server's models.")

    @Option(help: "The server, HOST:PORT.") var server: String

    func run() async throws {
        let client = try await TNTClient.connect(server)
        for model in try await client.listModels() {
            let reason = model.stateReason.isEmpty ? "" : " (\(model.stateReason))"
            print("\(model.name)\t\(model.architecture)\t\(model.inputShape)\t\(model.classes) classes\t\(model.parameters) parameters\t\(model.state)\(reason)")
        }
        await client.close()
    }
}
