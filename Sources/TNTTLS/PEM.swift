import Foundation
import NIOSSL

/// A TLS file that cannot serve: unreadable, or not what it should hold.
public struct TLSFileError: Error, CustomStringConvertible {
    public let description: String
}

/// PEM files, as the server's identity and the clients' trust roots and certificates read them.
public enum PEM {
    /// The PEM certificates of `path`, whose bytes are `data` (nil: it could not be read); at
    /// least one, or an error naming the file.
    public static func certificates(_ data: Data?, from path: String) throws -> [NIOSSLCertificate] {
        guard let data else { throw TLSFileError(description: "cannot read '\(path)'") }
        let found: [NIOSSLCertificate]
        do {
            found = try NIOSSLCertificate.fromPEMBytes([UInt8](data))
        } catch {
            throw TLSFileError(description: "'\(path)' holds no PEM certificate (\(error))")
        }
        guard !found.isEmpty else { throw TLSFileError(description: "'\(path)' holds no PEM certificate") }
        return found
    }
}
