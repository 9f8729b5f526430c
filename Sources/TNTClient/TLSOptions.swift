import Foundation
import NIOCore
import NIOSSL
import TNTProtocol
import TNTTLS

/// How a client speaks TLS to its servers.
///
/// ```swift
/// let tls = TLSOptions(trustRoots: "ca.pem")                                   // TLS
/// let mtls = TLSOptions(trustRoots: "ca.pem", certificateChain: "client.pem",
///                       privateKey: "client.key")                             // mutual TLS
/// let client = try TNTClient(endpoints: ["tnt.example:50051"], tls: mtls, token: token)
/// ```
public struct TLSOptions: Sendable {
    /// PEM file of the CA certificates the server's certificate must be signed by; nil for the
    /// system's trust store.
    public var trustRoots: String?
    /// PEM certificate chain (leaf first) to present to a server that asks for one (mutual TLS).
    public var certificateChain: String?
    /// PEM private key of `certificateChain`.
    public var privateKey: String?
    /// The name the server's certificate must carry, sent in SNI; nil for the endpoint's host.
    public var serverName: String?

    public init(trustRoots: String? = nil, certificateChain: String? = nil, privateKey: String? = nil, serverName: String? = nil) {
        self.trustRoots = trustRoots
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.serverName = serverName
    }

    /// The NIOSSL context these options describe (TLS 1.2 or later, the server's certificate
    /// and name verified).
    func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            func certificates(_ path: String) throws -> [NIOSSLCertificate] {
                try PEM.certificates(FileManager.default.contents(atPath: path), from: path)
            }
            if let trustRoots {
                configuration.trustRoots = .certificates(try certificates(trustRoots))
            }
            switch (certificateChain, privateKey) {
            case let (chain?, key?):
                configuration.certificateChain = try certificates(chain).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            case (nil, nil):
                break
            default:
                throw RPCError(.invalidArgument, "a client certificate needs both its chain and its key")
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(.invalidArgument, "cannot load the client's TLS files: \(TLSFailure.describe(error, by: .client) ?? "\(error)")")
        }
    }
}

/// A client's TLS, ready for connections: the context built once, and the name to verify.
struct ClientTLS: Sendable {
    let context: NIOSSLContext
    let serverName: String?

    init(_ options: TLSOptions) throws {
        context = try options.makeContext()
        serverName = options.serverName
    }

    init(context: NIOSSLContext, serverName: String?) {
        self.context = context
        self.serverName = serverName
    }
}

/// Whether a connection got as far as the server's first bytes (its preface: the server took
/// the connection; under TLS, the handshake, client certificate included, was accepted), and
/// if not, why. Shared by the handlers on either side of NIOSSL.
final class ConnectionOutcome: @unchecked Sendable {
    let ready: EventLoopPromise<Void>
    private let lock = NSLock()
    private var verdict: String?
    /// The last certificate of the server's chain BoringSSL looked at: its leaf.
    private var leaf: NIOSSLCertificate?
    private let host: String

    init(eventLoop: EventLoop, host: String) {
        ready = eventLoop.makePromise()
        self.host = host
    }

    /// BoringSSL's verdict on a certificate of the server's chain.
    func certificateChecked(_ result: NIOSSLVerificationResult, _ certificate: NIOSSLCertificate) -> NIOSSLVerificationResult {
        let why = TLSFailure.explain(result, certificate, of: "server", trustFlag: " (--tls-ca)")
        lock.withLock {
            leaf = certificate
            verdict = verdict ?? why
        }
        return result
    }

    func fail(_ error: Error) {
        let known: (verdict: String?, leaf: NIOSSLCertificate?) = lock.withLock { (verdict, leaf) }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname, let certificate = known.leaf {
            ready.fail(RPCError(.unavailable, "the server's certificate is not for '\(host)' (connect by a name it carries, or set the server name, --tls-server-name): \(certificate)"))
            return
        }
        let reason = known.verdict ?? TLSFailure.describe(error, by: .client) ?? "\(error)"
        ready.fail(RPCError(.unavailable, reason))
    }
}

/// Before NIOSSL: a server that answers a TLS ClientHello with a plaintext TNTServe preface
/// is a plaintext port.
final class PlaintextServerDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let outcome: ConnectionOutcome

    init(outcome: ConnectionOutcome) { self.outcome = outcome }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == ConnectionPreface.bytes[0] {
            outcome.ready.fail(RPCError(.unavailable, "the server speaks plaintext on this port, not TLS: connect without TLS, or to its TLS port"))
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}

/// Resolves the outcome at the server's first bytes, or with the reason the connection failed
/// before them (after NIOSSL: the handshake's), then leaves the pipeline.
final class ServerPrefaceWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let outcome: ConnectionOutcome

    init(outcome: ConnectionOutcome) { self.outcome = outcome }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        outcome.ready.succeed(())
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        outcome.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        outcome.ready.fail(RPCError(.unavailable, "the server closed the connection before its preface (a listener closing: not processed)"))
        context.fireChannelInactive()
    }
}

extension NIOSSLClientHandler {
    /// A client handler that reports BoringSSL's per-certificate verdicts to `outcome`, so
    /// that a refused server certificate is explained (expired, not yet valid, untrusted).
    /// NIOSSL marks this initialiser deprecated in favour of replacing verification entirely;
    /// it is the one hook that observes the built-in verification without replacing it.
    static func verifying(context: NIOSSLContext, serverHostname: String?, outcome: ConnectionOutcome) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname) { result, certificate in
            outcome.certificateChecked(result, certificate)
        }
    }
}
