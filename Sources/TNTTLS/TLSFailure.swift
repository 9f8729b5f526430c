import Foundation
import NIOSSL

/// A TLS failure told in words a person can act on: BoringSSL's reason codes, and NIOSSL's
/// errors, mapped to their usual causes.
public enum TLSFailure {
    /// Which side is describing the failure: the other side is its peer.
    public enum Side: String, Sendable {
        case client, server
        var peer: String { self == .client ? "server" : "client" }
    }

    /// BoringSSL reason codes (as they appear in its error strings) and what they mean, told
    /// by `side`. Checked in order: the first that appears in the error names the cause.
    static func reasons(_ side: Side) -> [(code: String, meaning: String)] {
        let (me, peer) = (side.rawValue, side.peer)
        return [
            ("SSLV3_ALERT_CERTIFICATE_EXPIRED", "the \(peer) refused this \(me)'s certificate: it has expired"),
            ("TLSV1_ALERT_UNKNOWN_CA", "the \(peer) refused this \(me)'s certificate: it is not signed by a CA the \(peer) trusts"),
            ("SSLV3_ALERT_BAD_CERTIFICATE", "the \(peer) refused this \(me)'s certificate"),
            ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", "the \(peer) refused this \(me)'s certificate"),
            ("CERTIFICATE_REQUIRED", "the server requires a client certificate (mutual TLS) and none was sent"),
            ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the client sent no certificate, and this server requires one (mutual TLS)"),
            ("CERTIFICATE_VERIFY_FAILED", "the \(peer)'s certificate failed verification (expired, or not signed by a CA this \(me) trusts)"),
            ("WRONG_VERSION_NUMBER", "the \(peer) does not speak TLS on this port (a plaintext endpoint?)"),
            ("HTTP_REQUEST", "the \(peer) sent plaintext HTTP to a TLS port"),
            ("UNSUPPORTED_PROTOCOL", "no TLS version both sides accept (TLS 1.2 or later is required)"),
            ("TLSV1_ALERT_PROTOCOL_VERSION", "no TLS version both sides accept (TLS 1.2 or later is required)"),
            ("NO_SHARED_CIPHER", "no cipher suite both sides accept"),
            ("TLSV1_ALERT_DECRYPT_ERROR", "the handshake's signature did not verify (a key that does not match its certificate?)"),
            ("EOF during handshake", "the \(peer) closed the connection during the TLS handshake"),
        ]
    }

    /// What went wrong, in a sentence; nil when `error` is not a TLS error.
    public static func describe(_ error: Error, by side: Side) -> String? {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "the \(side.peer)'s certificate is not valid for the name connected to (\(extra))"
        }
        let text: String
        switch error {
        case NIOSSLError.handshakeFailed(let failure): text = "\(failure)"
        case NIOSSLError.uncleanShutdown: return "the \(side.peer) closed the TLS connection without a close_notify"
        case let ssl as NIOSSLError: text = "\(ssl)"
        // An alert that arrives after this side's handshake finished (TLS 1.3 client certificates).
        case let boring as BoringSSLError: text = "\(boring)"
        default: return nil
        }
        if let reason = reasons(side).first(where: { text.contains($0.code) }) { return "TLS: \(reason.meaning)" }
        return "TLS: \(text)"
    }

    /// Why BoringSSL refused `certificate` of the `whose` ("client", "server") chain; nil when
    /// it did not. Checked for the dates first: BoringSSL's own error says only that
    /// verification failed.
    public static func explain(_ result: NIOSSLVerificationResult, _ certificate: NIOSSLCertificate, of whose: String,
                               trustFlag: String = "") -> String? {
        guard case .failed = result else { return nil }
        let now = time(nil)
        func date(_ t: time_t) -> String { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(t))) }
        let why = if now > certificate.notValidAfter {
            "the \(whose)'s certificate expired on \(date(certificate.notValidAfter))"
        } else if now < certificate.notValidBefore {
            "the \(whose)'s certificate is not valid before \(date(certificate.notValidBefore))"
        } else {
            "the \(whose)'s certificate is not signed by a CA this \(whose == "server" ? "client" : "server") trusts\(trustFlag)"
        }
        return "\(why): \(certificate)"
    }
}
