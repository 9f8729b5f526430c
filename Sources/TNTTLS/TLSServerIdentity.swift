import Foundation
import NIOSSL

/// The server's TLS identity, read from PEM files: its certificate chain and key, and for
/// mutual TLS the CA that client certificates must be signed by.
///
/// `reload()` re-reads the files: when they changed and load, new handshakes use them; open
/// connections keep the context they were made with. Files that do not load leave the
/// previous identity serving.
public final class TLSServerIdentity: @unchecked Sendable {
    public struct Files: Sendable, Equatable {
        public var certificateChain: String
        public var privateKey: String
        /// Client certificates must be signed by a CA in this PEM file; nil for server-only TLS.
        public var clientCA: String?

        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    /// One load of the files.
    public struct Loaded: @unchecked Sendable {
        public let context: NIOSSLContext
        /// The same certificate, asking no client certificate (the admin port: probes and scrapers).
        public let serverOnlyContext: NIOSSLContext
        /// The leaf certificate's common name, names and expiry, for logs.
        public let summary: String
        /// Seconds since 1970 after which the leaf certificate is no longer valid.
        public let notValidAfter: Int
        /// What the context was made from, for transports that build their own (gRPC).
        public let certificateChain: [NIOSSLCertificate]
        public let privateKey: NIOSSLPrivateKey
        public let clientCA: [NIOSSLCertificate]
        let contents: [Data?]
    }

    public enum ReloadOutcome {
        case unchanged
        case reloaded(Loaded)
        case failed(String)
    }

    public let files: Files
    private let lock = NSLock()
    private var loaded: Loaded

    /// Loads the files; throws a message naming the file that does not load.
    public init(files: Files) throws {
        self.files = files
        loaded = try Self.load(files, contents: Self.read(files))
    }

    /// The context for a new connection's handshake.
    public var context: NIOSSLContext { lock.withLock { loaded.context } }
    public var serverOnlyContext: NIOSSLContext { lock.withLock { loaded.serverOnlyContext } }
    public var current: Loaded { lock.withLock { loaded } }
    public var requiresClientCertificate: Bool { files.clientCA != nil }

    /// Re-reads the files; rebuilds the context only when their bytes changed.
    public func reload() -> ReloadOutcome {
        let contents = Self.read(files)
        guard contents != current.contents else { return .unchanged }
        do {
            let fresh = try Self.load(files, contents: contents)
            lock.withLock { loaded = fresh }
            return .reloaded(fresh)
        } catch {
            return .failed("\(error)")
        }
    }

    private static func read(_ files: Files) -> [Data?] {
        [files.certificateChain, files.privateKey, files.clientCA].map { $0.flatMap { FileManager.default.contents(atPath: $0) } }
    }

    private static func load(_ files: Files, contents: [Data?]) throws -> Loaded {
        func pem(_ index: Int, _ path: String) throws -> [UInt8] {
            guard let data = contents[index] else { throw TLSFileError(description: "cannot read '\(path)'") }
            return [UInt8](data)
        }
        let chain = try PEM.certificates(contents[0], from: files.certificateChain)
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: pem(1, files.privateKey), format: .pem)
        } catch let error as TLSFileError {
            throw error
        } catch {
            throw TLSFileError(description: "'\(files.privateKey)' holds no PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        let serverOnly = configuration
        let clientCA = try files.clientCA.map { try PEM.certificates(contents[2], from: $0) } ?? []
        if files.clientCA != nil {
            configuration.trustRoots = .certificates(clientCA)
            configuration.certificateVerification = .noHostnameVerification
        }
        let context: NIOSSLContext
        let serverOnlyContext: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
            serverOnlyContext = files.clientCA == nil ? context : try NIOSSLContext(configuration: serverOnly)
        } catch {
            // BoringSSL checks here that the key belongs to the leaf certificate.
            throw TLSFileError(description: "cannot make a TLS context from '\(files.certificateChain)' and '\(files.privateKey)' (does the key belong to the certificate?): \(error)")
        }
        let leaf = chain[0]
        return Loaded(context: context, serverOnlyContext: serverOnlyContext, summary: describe(leaf), notValidAfter: Int(leaf.notValidAfter),
                      certificateChain: chain, privateKey: key, clientCA: clientCA, contents: contents)
    }

    /// The certificate's serial number, common name and names, and its expiry.
    public static func describe(_ certificate: NIOSSLCertificate) -> String {
        let until = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        return "\(certificate) valid until \(ISO8601DateFormatter().string(from: until))"
    }
}
