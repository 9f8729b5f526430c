import Foundation
import Logging
import TNTProtocol
import TNTTLS

/// TLS on the server's ports and token authentication of calls: both optional, both read
/// from files that SIGHUP (and `--reload-interval`) read again without dropping a connection.
public final class ServerSecurity: @unchecked Sendable {
    /// The RPC port's identity (and the admin port's, with `--admin-tls`); nil for plaintext.
    public let tls: TLSServerIdentity?
    private let tokensFile: String?
    private let lock = NSLock()
    private var tokens: AuthTokens?
    private let logger: Logger

    init(config: ServerConfig, logger: Logger) throws {
        self.logger = logger
        switch (config.tlsCertificateChain, config.tlsPrivateKey) {
        case let (chain?, key?):
            tls = try TLSServerIdentity(files: .init(certificateChain: chain, privateKey: key, clientCA: config.tlsClientCA))
            logger.info("TLS on", metadata: ["certificate": "\(tls!.current.summary)",
                                             "client_certificates": "\(config.tlsClientCA.map { "required, signed by a CA in \($0)" } ?? "not asked for")",
                                             "admin_port": "\(config.adminTLS ? "TLS" : "plaintext")"])
            if tls!.current.notValidAfter < Int(Date().timeIntervalSince1970) {
                logger.warning("the TLS certificate has expired: clients will refuse it", metadata: ["certificate": "\(tls!.current.summary)"])
            }
        case (nil, nil):
            guard config.tlsClientCA == nil else { throw ServerConfig.Invalid("--tls-client-ca needs --tls-cert and --tls-key") }
            guard !config.adminTLS else { throw ServerConfig.Invalid("--admin-tls needs --tls-cert and --tls-key") }
            tls = nil
        default:
            throw ServerConfig.Invalid("--tls-cert and --tls-key go together")
        }
        tokensFile = config.authTokensFile
        if let path = tokensFile {
            let loaded = try AuthTokens(file: path)
            tokens = loaded
            logger.info("token authentication on", metadata: ["file": "\(path)", "tokens": "\(loaded.entries.map(\.caller.name))"])
        }
    }

    public var authenticates: Bool { tokensFile != nil }

    /// Reads the certificate, key, client CA and token files again; what fails to load keeps
    /// its previous version in force.
    func reload() {
        if let tls {
            switch tls.reload() {
            case .unchanged: break
            case .reloaded(let loaded):
                logger.notice("TLS certificate reloaded: new connections use it", metadata: ["certificate": "\(loaded.summary)"])
            case .failed(let reason):
                logger.error("TLS certificate reload failed; the previous certificate keeps serving", metadata: ["reason": "\(reason)"])
            }
        }
        if let path = tokensFile {
            do {
                let loaded = try AuthTokens(file: path)
                let changed: Bool = lock.withLock {
                    defer { tokens = loaded }
                    return tokens?.entries != loaded.entries
                }
                if changed { logger.notice("token file reloaded", metadata: ["tokens": "\(loaded.entries.map(\.caller.name))"]) }
            } catch {
                logger.error("token file reload failed; the previous tokens stay in force", metadata: ["reason": "\(error)"])
            }
        }
    }

    /// The call's caller, from its `authorization: Bearer <token>` metadata. Health calls need
    /// no token (probes); any other call without a valid one is UNAUTHENTICATED.
    func caller(of request: RequestEnvelope) -> Result<Caller, RPCError> {
        guard let tokens = lock.withLock({ tokens }) else { return .success(.anyone) }
        let header = request.metadata.last { $0.key == MetadataEntry.authorizationKey }?.value
        let token = header.flatMap { value -> String? in
            guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
            return String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        if let token, let caller = tokens.caller(token: token) { return .success(caller) }
        if request.method == Method.healthCheck { return .success(.anonymous) }
        let why = header == nil ? "no 'authorization' metadata; send 'authorization: Bearer <token>'"
            : token == nil ? "the 'authorization' metadata is not 'Bearer <token>'" : "the token is not known to this server"
        return .failure(RPCError(.unauthenticated, "\(why) (\(request.method.clipped) needs a token)"))
    }
}
