import Foundation
import TNTClient
import TNTModel
import TNTProtocol

/// A real `tnt-server` process on 127.0.0.1 with an ephemeral port, serving a model
/// repository made for the test: `tiny` (the bundled tiny TNT with labels) and `broken`.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    /// The admin HTTP port, when started with `--admin-port`.
    private(set) var adminPort: Int?
    let repository: String
    private let stderrPipe = Pipe()
    private let stderrData = LockedData()

    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The directory holding the built products: tnt-server sits beside the test runner.
    static let products: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: beside.appendingPathComponent("tnt-server").path) { return beside }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }()

    /// - environment: variables set (or, with nil, removed) on top of this process's own. By
    ///   default the server runs the OpenBLAS kernels this test process runs, so that its
    ///   answers can be compared bit for bit with ones computed here.
    init(_ arguments: [String] = [], port requestedPort: Int = 0, environment: [String: String?] = [:]) throws {
        repository = NSTemporaryDirectory() + "tnt-models-" + UUID().uuidString
        try Self.makeRepository(at: repository)
        process.executableURL = Self.products.appendingPathComponent("tnt-server")
        process.arguments = ["--port", "\(requestedPort)", "--models", repository, "--log-level", "debug"] + arguments
        process.environment = Self.environment(["OPENBLAS_CORETYPE": BLASThreads.coreName].merging(environment) { $1 })
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = stderrPipe
        let sink = stderrData
        stderrPipe.fileHandleForReading.readabilityHandler = { handle in sink.append(handle.availableData) }
        try process.run()
        // Wait for "tnt-server listening on HOST:PORT". The deadline only guards against a
        // server that never starts: under ThreadSanitizer the start-up kernel self-checks alone
        // take 20–35 s on a shared 2-core machine (one start took 34 s against an earlier 30 s).
        var line = Data()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let byte = stdout.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte == Data("\n".utf8) {
                let text = String(decoding: line, as: UTF8.self)
                if text.contains(" admin on "), let colon = text.lastIndex(of: ":") {
                    adminPort = Int(text[text.index(after: colon)...])
                }
                if let range = text.range(of: "listening on "), let colon = text.lastIndex(of: ":"), colon > range.upperBound {
                    port = Int(text[text.index(after: colon)...])!
                    return
                }
                line.removeAll()
            } else {
                line.append(byte)
            }
        }
        process.terminate()
        throw RPCError(.unavailable, "tnt-server did not start: \(String(decoding: sink.value, as: UTF8.self))")
    }

    static func makeRepository(at path: String) throws {
        let fm = FileManager.default
        let fixture = repositoryRoot.appendingPathComponent("Tests/TNTModelTests/Fixtures/tiny-sharp")
        try fm.createDirectory(atPath: path + "/tiny", withIntermediateDirectories: true)
        try fm.copyItem(atPath: fixture.path + "/weights.safetensors", toPath: path + "/tiny/weights.safetensors")
        let config = try String(contentsOf: fixture.appendingPathComponent("config.json"), encoding: .utf8)
        try #"{"architecture": \#(config), "weights": "weights.safetensors", "labels": "labels.txt"}"#
            .write(toFile: path + "/tiny/model.json", atomically: true, encoding: .utf8)
        try (0..<10).map { "digit \($0)\n" }.joined().write(toFile: path + "/tiny/labels.txt", atomically: true, encoding: .utf8)
        try fm.createDirectory(atPath: path + "/broken", withIntermediateDirectories: true)
        try #"{"architecture": "tnt_small", "weights": "missing.safetensors"}"#
            .write(toFile: path + "/broken/model.json", atomically: true, encoding: .utf8)
    }

    /// This process's environment with `changes` applied.
    static func environment(_ changes: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in changes { environment[name] = value }
        return environment
    }

    var endpoint: String { "127.0.0.1:\(port)" }

    var stderr: String { String(decoding: stderrData.value, as: UTF8.self) }

    func client() async throws -> TNTClient { try await TNTClient.connect(endpoint) }

    func connection() async throws -> Connection { try await Connection.connect(host: "127.0.0.1", port: port) }

    /// SIGTERM, then the exit status.
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: repository)
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    func raise() { lock.withLock { raised = true } }
    var isRaised: Bool { lock.withLock { raised } }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ more: Data) { lock.withLock { data.append(more) } }
    var value: Data { lock.withLock { data } }
}

/// Test images: real photographs and PngSuite files from the other test targets' fixtures.
enum TestImages {
    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: ServerProcess.repositoryRoot.appendingPathComponent(relative)))
    }

    static let paths = [
        "Tests/TNTImageTests/Fixtures/pipeline/china.jpg",
        "Tests/TNTImageTests/Fixtures/pipeline/flower.jpg",
        "Tests/TNTImageTests/Fixtures/jpeg/grayscale.jpg",
        "Tests/TNTImageTests/Fixtures/resize/40x30_to_331x248.png",
    ]
}
