import Foundation
import TNTProtocol

/// The JSON config file of `tnt-server --config`: one object whose keys are flag names and
/// whose values are strings, numbers or booleans (`{"port": 50051, "max-batch": 4}`).
public enum ConfigFile {
    /// The keys a config file may hold: the flag names.
    public static let keys: Set<String> = [
        "host", "port", "admin-port", "models", "workers", "blas-threads", "max-batch", "max-queue-delay-us", "queue-size",
        "max-frame-bytes", "max-calls-per-connection", "max-connections", "max-connections-per-peer", "idle-timeout",
        "frame-timeout", "write-timeout", "max-connection-buffer-bytes", "max-buffered-bytes", "admin-max-connections",
        "admin-timeout", "shutdown-grace", "max-inputs-per-call", "max-call-pixels", "max-image-bytes", "max-image-pixels",
        "max-image-pixels-per-byte", "log-level", "log-format", "reload-interval", "access-log", "tls-cert", "tls-key",
        "tls-client-ca", "admin-tls", "auth-tokens", "max-connection-age", "max-connection-age-grace",
    ]

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Each key's value as text, checked: a JSON object, known keys, scalar values.
    public static func parse(_ data: Data) throws -> [String: String] {
        guard data.count <= 1 << 20 else { throw Invalid(description: "config file is \(data.count) bytes; the limit is 1 MiB") }
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any] else {
            throw Invalid(description: "config file is not a JSON object")
        }
        var values: [String: String] = [:]
        for (key, value) in object {
            guard keys.contains(key) else {
                throw Invalid(description: "config file: unknown key '\(key.clipped)'; keys: \(keys.sorted().joined(separator: ", "))")
            }
            switch value {
            case let text as String: values[key] = text
            // JSON's true and false arrive as NSNumber's boolean subclass (whose text is 1 or 0).
            case let flag as NSNumber where String(describing: type(of: flag)).contains("Boolean"): values[key] = flag.boolValue ? "true" : "false"
            case let number as NSNumber: values[key] = "\(number)"
            default: throw Invalid(description: "config file: '\(key)' must be a string or a number")
            }
        }
        return values
    }
}
