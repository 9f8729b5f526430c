import ArgumentParser
import Foundation
import TNTClient
import TNTProtocol

struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a running tnt-server: class ids, scores, label names per file."
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "Model name; the server's default when absent.") var model = ""
    @Option(help: "Classes per image.") var topK = 5
    @Option(help: "Deadline per call in seconds.") var timeout: Double?
    @Flag(help: "Print PaddleClas's predictor JSON (class_ids, scores, label_names, file_name).") var json = false
    @Argument(help: "PNG or JPEG files.") var images: [String]

    func run() async throws {
        let client = try await server.connect()
        var inputs: [PredictInput] = []
        for path in images {
            inputs.append(.encodedImage(try readImage(path)))
        }
        let response = try await client.predict(PredictRequest(model: model, inputs: inputs, topK: topK),
                                                options: CallOptions(timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }))
        await client.close()
        printResults(response.results, files: images, json: json)
    }
}

/// Where the server is and how to reach it: its address, TLS, a token.
struct ServerOptions: ParsableArguments {
    @Option(help: "The server, HOST:PORT; a HOST that resolves to many addresses stands for all of them.") var server: String
    @Flag(help: "Connect with TLS, trusting the system's CAs (implied by --tls-ca and --tls-cert).") var tls = false
    @Option(name: .customLong("tls-ca"), help: "PEM file of the CAs the server's certificate must be signed by.") var tlsCA: String?
    @Option(help: "PEM client certificate chain, for servers that require one (mutual TLS).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "The name the server's certificate must carry; the host of --server when absent.") var tlsServerName: String?
    @Option(help: "Token sent as 'authorization: Bearer <token>' (or TNT_TOKEN).") var token: String?
    @Option(help: "Seconds between resolutions of a --server name that stands for many servers (a headless Service).")
    var reresolveInterval = 30.0
    @Flag(help: "Send each call to the server with the fewest calls in flight, not round robin.") var leastLoaded = false

    var tlsOptions: TLSOptions? {
        guard tls || tlsCA != nil || tlsCert != nil || tlsKey != nil || tlsServerName != nil else { return nil }
        return TLSOptions(trustRoots: tlsCA, certificateChain: tlsCert, privateKey: tlsKey, serverName: tlsServerName)
    }

    func connect(retry: RetryPolicy = RetryPolicy()) async throws -> TNTClient {
        let discovery = Discovery(reresolveInterval: .milliseconds(Int64(reresolveInterval * 1000)),
                                  balancing: leastLoaded ? .leastLoaded : .roundRobin)
        return try await TNTClient.connect(server, retry: retry, discovery: discovery, tls: tlsOptions, token: (token ?? ProcessInfo.processInfo.environment["TNT_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 })
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

    @OptionGroup var server: ServerOptions
    @Option(help: "A model name; the whole server when empty.") var service = ""
    @Option(help: "Seconds to wait for the answer.") var timeout = 3.0

    func run() async throws {
        let status: HealthCheckResponse.ServingStatus
        do {
            let client = try await server.connect(retry: .none)
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

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let client = try await server.connect()
        for model in try await client.listModels() {
            let reason = model.stateReason.isEmpty ? "" : " (\(model.stateReason))"
            print("\(model.name)\t\(model.architecture)\t\(model.inputShape)\t\(model.classes) classes\t\(model.parameters) parameters\t\(model.state)\(reason)")
        }
        await client.close()
    }
}
