import Foundation
import NIOCore
import TNTImage
import TNTInference
import TNTModel
import TNTProtocol
import TNTServer

/// What the fuzzer feeds untrusted bytes to. Each target must end in a value or a typed
/// error; a crash, a hang, a leak or a sanitizer report is a bug.
enum FuzzTarget: String, CaseIterable {
    case frame, messages, png, jpeg, safetensors, modeljson, config

    func run(_ bytes: [UInt8]) {
        switch self {
        case .frame: Self.frames(bytes)
        case .messages: Self.messages(bytes)
        case .png, .jpeg: Self.image(bytes)
        case .safetensors: _ = try? SafeTensorsFile.parseHeader(Data(bytes), path: "fuzz", dataSize: 1 << 20)
        case .modeljson: Self.modelJSON(bytes)
        case .config: _ = try? ConfigFile.parse(Data(bytes))
        }
    }

    /// The server's frame parser over the bytes in two pieces, preface expected and not.
    static func frames(_ bytes: [UInt8]) {
        for expectPreface in [true, false] {
            var decoder = FrameDecoder(maxFrameSize: 4096, expectPreface: expectPreface)
            var buffer = ByteBuffer(bytes: bytes.prefix(bytes.count / 2))
            var frames = 0
            for part in [Array(bytes.dropFirst(bytes.count / 2)), []] {
                buffer.writeBytes(part)
                while let frame = try? decoder.nextFrame(&buffer) {
                    precondition(frame.payload.readableBytes <= 4096)
                    frames += 1
                }
            }
            precondition(frames <= bytes.count / Frame.headerSize + 1)
        }
    }

    /// Every decoder of the protocol; what parses must re-encode to bytes that parse and
    /// re-encode to the same bytes (bytes, not values: a NaN is not equal to itself).
    static func messages(_ bytes: [UInt8]) {
        if let envelope = try? RequestEnvelope(protobuf: bytes) {
            let encoded = envelope.protobuf()
            precondition((try? RequestEnvelope(protobuf: encoded))?.protobuf() == encoded)
        }
        _ = try? ResponseEnvelope(protobuf: bytes)
        _ = try? GoAway(protobuf: bytes)
        if let request = try? PredictRequest(protobuf: bytes) {
            let encoded = request.protobuf()
            precondition((try? PredictRequest(protobuf: encoded))?.protobuf() == encoded)
        }
        _ = try? PredictResponse(protobuf: bytes)
        _ = try? ListModelsRequest(protobuf: bytes)
        _ = try? ListModelsResponse(protobuf: bytes)
        _ = try? GetModelRequest(protobuf: bytes)
        _ = try? ModelInfo(protobuf: bytes)
        _ = try? HealthCheckRequest(protobuf: bytes)
        _ = try? HealthCheckResponse(protobuf: bytes)
    }

    /// Decode (PNG or JPEG with its EXIF orientation) under small limits, then the whole
    /// preprocessing of what decodes.
    static func image(_ bytes: [UInt8]) {
        let limits = DecodeLimits(maxEncodedBytes: 1 << 20, maxPixels: 1 << 20)
        guard let image = try? ImageDecoder.decode(bytes, limits: limits) else { return }
        precondition(image.pixels.count == image.width * image.height * 3)
        var config = PreprocessConfig()
        config.resizeShort = 36
        config.cropSize = 32
        _ = try? Preprocessor.tensor(image, config: config, limits: limits)
    }

    static func modelJSON(_ bytes: [UInt8]) {
        guard let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(bytes)) else { return }
        if case .custom(let config) = manifest.architecture { _ = try? config.validate() }
    }
}

/// The target named by TNT_FUZZ_TARGET (libFuzzer passes only bytes).
let fuzzTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["TNT_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("TNT_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue)), got '\(name)'")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (every ordinary build): `fuzz-tnt TARGET PATH...` replays files, and
/// every file in directories, through a target (`make test` replays the committed corpora).
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: fuzz-tnt \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) PATH...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                target.run([UInt8](FileManager.default.contents(atPath: file) ?? Data()))
                count += 1
            }
        }
        print("\(name): \(count) inputs replayed")
    }
}
#endif
