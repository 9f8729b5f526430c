import Foundation
import TNTModel
import TNTProtocol

/// Who made a call: a token's name and the models it may call, or no one (authentication off,
/// or a Health call without a token).
public struct Caller: Sendable, Equatable {
    public enum Models: Sendable, Equatable {
        case all
        case only(Set<String>)
    }

    public let name: String
    public let models: Models

    /// Authentication is off: everyone may call everything.
    public static let anyone = Caller(name: "", models: .all)
    /// A Health call without a (valid) token, while authentication is on.
    static let anonymous = Caller(name: "anonymous", models: .only([]))

    public func mayCall(_ model: String) -> Bool {
        switch models {
        case .all: true
        case .only(let names): names.contains(model)
        }
    }
}

/// The token file of `--auth-tokens`: one entry per line, `SHA256-HEX NAME MODELS`, where
/// SHA256-HEX is the SHA-256 of the token (the file holds no secret), NAME goes into logs and
/// metrics, and MODELS is `*` or a comma-separated list of model names. `#` starts a comment.
public struct AuthTokens: Sendable {
    struct Entry: Sendable, Equatable {
        /// The token's SHA-256 as lower-case hex digits.
        let digest: [UInt8]
        let caller: Caller
    }

    let entries: [Entry]

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(contents: String, source: String) throws {
        var entries: [Entry] = []
        var names: Set<String> = []
        for (number, rawLine) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.prefix { $0 != "#" }.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            func invalid(_ why: String) -> Invalid { Invalid(description: "\(source), line \(number + 1): \(why)") }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else { throw invalid("expected 'SHA256-HEX NAME MODELS', got \(fields.count) fields") }
            let digest = Array(fields[0].lowercased().utf8)
            guard digest.count == 64, digest.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw invalid("'\(fields[0].prefix(16))…' is not a SHA-256 in hex (64 hex digits): put the token's hash here, not the token")
            }
            let name = String(fields[1])
            guard name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw invalid("name '\(name.clipped)' must be 1 to 64 of A-Z a-z 0-9 . _ -")
            }
            guard names.insert(name).inserted else { throw invalid("name '\(name)' is used twice") }
            guard !entries.contains(where: { $0.digest == digest }) else { throw invalid("this token hash is listed twice") }
            let models: Caller.Models = fields[2] == "*" ? .all : .only(Set(fields[2].split(separator: ",").map(String.init)))
            entries.append(Entry(digest: digest, caller: Caller(name: name, models: models)))
        }
        self.entries = entries
    }

    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 16 << 20 else {
            throw Invalid(description: "cannot read token file '\(path)'")
        }
        try self.init(contents: String(decoding: data, as: UTF8.self), source: "'\(path)'")
    }

    /// The caller whose token hashes to an entry. Every entry is compared in full, so that
    /// the time taken does not tell how much of a guess matched.
    public func caller(token: String) -> Caller? {
        let digest = Array(SHA256.hex(Array(token.utf8)).utf8)
        var found = -1
        for (index, entry) in entries.enumerated() {
            var difference: UInt8 = 0
            for i in 0..<64 { difference |= digest[i] ^ entry.digest[i] }
            if difference == 0 { found = index }
        }
        return found >= 0 ? entries[found].caller : nil
    }
}
