import TNTProtocol

/// libFuzzer entry: every message decoder of the protocol on the same bytes. A crash, a leak
/// or a sanitizer report is a bug; a `MalformedMessage` or `RPCError` is the expected outcome
/// for most inputs. Build and run: `make fuzz`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? RequestEnvelope(protobuf: bytes)
    _ = try? ResponseEnvelope(protobuf: bytes)
    _ = try? GoAway(protobuf: bytes)
    if let request = try? PredictRequest(protobuf: bytes) {
        // What parses must re-encode and parse to the same value.
        precondition((try? PredictRequest(protobuf: request.protobuf())) == request)
    }
    _ = try? PredictResponse(protobuf: bytes)
    _ = try? ListModelsResponse(protobuf: bytes)
    _ = try? HealthCheckRequest(protobuf: bytes)
    return 0
}

#if !FUZZING
import Foundation

/// Without -DFUZZING (plain `swift build`): replays the files named on the command line.
@main
struct Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            _ = bytes.withUnsafeBufferPointer { fuzzProtocol($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
        }
    }
}
#endif
