import Foundation
import Testing

/// The kernels are compiled for x86-64-v3. On an older CPU, emulated here by qemu-user as a
/// Westmere (SSE4.2, no AVX), the programs must say what the CPU lacks and exit, not die of an
/// illegal instruction. Sanitizer runtimes reserve terabytes of shadow memory, which qemu-user
/// cannot map, so sanitizer builds leave this to the plain one.
@Suite(.enabled(if: !sanitizerBuild, "sanitizer build: qemu-user cannot run sanitizer runtimes"))
struct CPUBaselineTests {
    /// tools/install-deps.sh installs qemu-user with the test packages.
    static let qemu = "/usr/bin/qemu-x86_64"

    @Test(arguments: [["tnt", "kernels"], ["tnt-server", "--port", "0"]])
    func anOlderCPUIsToldWhatItLacks(command: [String]) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.qemu), "\(Self.qemu) is missing: run tools/install-deps.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.qemu)
        process.arguments = ["-cpu", "Westmere", ServerProcess.products.appendingPathComponent(command[0]).path] + command.dropFirst()
        process.environment = ServerProcess.environment([:])
        let stderr = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(command[0]): \(process.terminationReason) \(process.terminationStatus); stderr: \(errors)")
        #expect(errors.contains("\(command[0]): TNTServe is built for x86-64-v3 CPUs"), "stderr: \(errors)")
        #expect(errors.contains("lacks: avx avx2 fma"), "stderr: \(errors)")
    }
}

private let sanitizerBuild: Bool = {
    let process = dlopen(nil, RTLD_NOW)
    return dlsym(process, "__asan_init") != nil || dlsym(process, "__tsan_init") != nil
}()
