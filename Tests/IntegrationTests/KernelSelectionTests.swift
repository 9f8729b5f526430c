import Foundation
import Testing
import TNTClient
import TNTModel

/// The program's own choice of OpenBLAS kernels, as a fresh shell gets it: in real `tnt` and
/// `tnt-server` processes, with OPENBLAS_CORETYPE unset or named.
@Suite struct KernelSelectionTests {
    /// `tnt kernels --json` in a process with `environment` applied.
    static func kernels(_ environment: [String: String?] = [:]) throws -> [String: Any] {
        let result = try runTool(["kernels", "--json", "--arch", "tnt_small"], environment: environment)
        #expect(result.status == 0, "tnt kernels failed: \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    }

    /// Families this CPU runs, best first.
    static let ladder: [String] = (try? kernels(["OPENBLAS_CORETYPE": nil])["ladder"] as? [String]) ?? []

    /// The bundled tiny fixture, and the PaddlePaddle fixtures `make test` generates.
    static let fixtures: [String] = {
        var dirs = [ServerProcess.repositoryRoot.appendingPathComponent("Tests/TNTModelTests/Fixtures/tiny-sharp").path]
        if let root = ProcessInfo.processInfo.environment["TNT_REFERENCE_DIR"] {
            dirs += ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted().map { root + "/" + $0 }
        }
        return dirs
    }()

    @Test func withNoVariableTheBestFamilyForThisCPUIsChosen() throws {
        let selection = try Self.kernels(["OPENBLAS_CORETYPE": nil])
        let cpu = CPUFeatures.current
        #expect(selection["source"] as? String == "chosen")
        #expect(selection["family"] as? String == Self.ladder.first)
        if cpu.hasAVX512Kernels {
            #expect(["Cooperlake", "SkylakeX"].contains(selection["family"] as? String), "an AVX-512 CPU must get AVX-512 kernels: \(selection)")
        } else if cpu.avx2 && cpu.fma {
            #expect(["Haswell", "Zen"].contains(selection["family"] as? String), "an AVX2 CPU must get AVX2 kernels: \(selection)")
        }
    }

    @Test func aNamedFamilyIsHonoured() throws {
        let named = try #require(Self.ladder.last)
        let selection = try Self.kernels(["OPENBLAS_CORETYPE": named])
        #expect(selection["family"] as? String == named)
        #expect(selection["source"] as? String == "named")
    }

    /// No variable, every family the selector can pick, and OpenBLAS computing the large
    /// products on the best family (where the AVX-512 tiles would otherwise run them).
    static let modes: [[String: String?]] = [["OPENBLAS_CORETYPE": nil]] + ladder.map { ["OPENBLAS_CORETYPE": $0] }
        + [["OPENBLAS_CORETYPE": nil, LargeProducts.environmentKey: LargeProducts.openBLAS.rawValue]]

    /// Parity with PaddlePaddle in every mode.
    @Test(arguments: modes)
    func parityHoldsInEveryMode(environment: [String: String?]) throws {
        let mode = environment.compactMap { key, value in value.map { "\(key)=\($0)" } }.sorted().joined(separator: " ")
        let out = try TemporaryFolder()
        for fixture in Self.fixtures {
            let logitsPath = out.path + "/logits.npy"
            let result = try runTool(["forward", "--arch", fixture + "/config.json", "--weights", fixture + "/weights.safetensors",
                                      "--input", fixture + "/input.npy", "--output", logitsPath, "--threads", "2"],
                                     environment: environment)
            try #require(result.status == 0, "tnt forward failed: \(result.stderr)")
            let actual = try NPYArray(contentsOf: logitsPath).values, expected = try NPYArray(contentsOf: fixture + "/logits.npy").values
            var worst: Float = 0
            for (a, e) in zip(actual, expected) { worst = max(worst, abs(a - e) / (1e-4 + 1e-4 * abs(e))) }
            #expect(actual.count == expected.count && worst <= 1,
                    "\(mode.isEmpty ? "chosen" : mode) on \(URL(fileURLWithPath: fixture).lastPathComponent): |Δlogit| at \(worst) of the bound")
        }
    }

    @Test func aChosenFamilyFailingItsCheckFallsBackToTheNext() async throws {
        let best = try #require(Self.ladder.first), next = try #require(Self.ladder.dropFirst().first)
        let server = try ServerProcess(["--admin-port", "0"], environment: ["OPENBLAS_CORETYPE": nil, "TNT_KERNEL_CHECK_FAULT": best])
        defer { _ = server.stop() }
        #expect(server.stderr.contains("failed its self-check"), "no fallback warning in: \(server.stderr)")
        let metrics = try httpGet(port: try #require(server.adminPort), path: "/metrics")
        #expect(metrics.contains(#"tnt_blas_kernels_info{family="\#(next)",source="chosen",self_check="passed",fell_back_from="\#(best)","#),
                "metrics: \(metrics.split(separator: "\n").filter { $0.contains("kernels") })")
        // And it serves right answers on the fallback.
        try await Self.expectAnswersLikeInProcess(server)
    }

    @Test(.enabled(if: CPUFeatures.current.avx512f, "the AVX-512 tiles run only on CPUs with AVX-512F"))
    func theAVX512TilesRunTheLargeProductsAndFallBackToOpenBLASWhenWrong() async throws {
        let fresh = try Self.kernels(["OPENBLAS_CORETYPE": nil])
        #expect(fresh["large_products"] as? String == "tnt-avx512", "\(fresh)")
        let named = try Self.kernels(["OPENBLAS_CORETYPE": "Haswell"])
        #expect(named["large_products"] as? String == "openblas", "Haswell named means AVX2 everywhere: \(named)")

        let server = try ServerProcess(["--admin-port", "0"], environment: ["OPENBLAS_CORETYPE": nil, "TNT_KERNEL_CHECK_FAULT": "tnt-avx512"])
        defer { _ = server.stop() }
        #expect(server.stderr.contains("the AVX-512 tiles failed their self-check"), "no fallback warning in: \(server.stderr)")
        let metrics = try httpGet(port: try #require(server.adminPort), path: "/metrics")
        #expect(metrics.contains(#"large_products="openblas",large_products_fell_back="true"} 1"#),
                "metrics: \(metrics.split(separator: "\n").filter { $0.contains("kernels") })")
        try await Self.expectAnswersLikeInProcess(server)

        // Named, the tiles must be right or the program stops.
        let result = try runTool(["kernels", "--arch", "tnt_small"], environment: [
            "OPENBLAS_CORETYPE": nil, LargeProducts.environmentKey: "tnt-avx512", "TNT_KERNEL_CHECK_FAULT": "tnt-avx512",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("TNT_LARGE_PRODUCTS=tnt-avx512 cannot run here"), "stderr: \(result.stderr)")
    }

    /// The server's top classes for a test image match an in-process classification (to
    /// rounding: this process may run other kernels).
    static func expectAnswersLikeInProcess(_ server: ServerProcess) async throws {
        let client = try await server.client()
        let image = try TestImages.bytes(TestImages.paths[0])
        let remote = try await client.predict(image: image, topK: 3)
        let local = try ServerTests.inProcess(image, topK: 3)
        #expect(remote.classIDs == local.ids)
        #expect(zip(remote.scores, local.scores).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(remote.scores) vs \(local.scores)")
        await client.close()
    }

    @Test func aNamedFamilyFailingItsCheckStopsTheServer() throws {
        let named = try #require(Self.ladder.first)
        let process = Process()
        process.executableURL = ServerProcess.products.appendingPathComponent("tnt-server")
        let repository = NSTemporaryDirectory() + "tnt-models-" + UUID().uuidString
        try ServerProcess.makeRepository(at: repository)
        defer { try? FileManager.default.removeItem(atPath: repository) }
        process.arguments = ["--port", "0", "--models", repository]
        process.environment = ServerProcess.environment(["OPENBLAS_CORETYPE": named, "TNT_KERNEL_CHECK_FAULT": named])
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(errors.contains("OPENBLAS_CORETYPE=\(named) computes wrong results"), "stderr: \(errors)")
        #expect(!String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("listening"))
    }
}

/// Runs the `tnt` executable built beside the tests.
func runTool(_ arguments: [String], environment: [String: String?] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = ServerProcess.products.appendingPathComponent("tnt")
    process.arguments = arguments
    process.environment = ServerProcess.environment(environment)
    let out = TemporaryFile(), err = TemporaryFile()
    process.standardOutput = try FileHandle(forWritingTo: out.url)
    process.standardError = try FileHandle(forWritingTo: err.url)
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus, try String(contentsOf: out.url, encoding: .utf8), try String(contentsOf: err.url, encoding: .utf8))
}

/// An empty file removed when the value goes away.
final class TemporaryFile {
    let url = URL(fileURLWithPath: NSTemporaryDirectory() + "tnt-" + UUID().uuidString)
    init() { precondition(FileManager.default.createFile(atPath: url.path, contents: nil), "cannot create \(url.path)") }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A folder removed when the value goes away.
final class TemporaryFolder {
    let path = NSTemporaryDirectory() + "tnt-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The body of an HTTP/1.1 GET to 127.0.0.1:`port` (read up to its Content-Length).
func httpGet(port: Int, path: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response = [UInt8](), chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
        let text = String(decoding: response, as: UTF8.self)
        if let end = text.range(of: "\r\n\r\n"),
           let line = text[..<end.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
           let length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
           text.utf8.count - text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound.samePosition(in: text.utf8)!) >= length {
            break
        }
    }
    let text = String(decoding: response, as: UTF8.self)
    return text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? text
}
