import Testing
import TNTModel
@testable import TNTServer

/// The token file: its format, its errors, and who a token is.
@Suite struct AuthTokensTests {
    func line(_ token: String, _ name: String, _ models: String) -> String { "\(SHA256.hex(Array(token.utf8))) \(name) \(models)" }

    @Test func findsEachTokensCallerAndTheirModels() throws {
        let file = """
            # name models
            \(line("s3cret", "checkout", "tnt_small,tnt_base"))   # trailing comment
            \(line("other", "batch-job", "*").uppercased().replacingOccurrences(of: "BATCH-JOB", with: "batch-job"))

            """
        let tokens = try AuthTokens(contents: file, source: "tokens")
        let checkout = try #require(tokens.caller(token: "s3cret"))
        #expect(checkout.name == "checkout")
        #expect(checkout.mayCall("tnt_small") && checkout.mayCall("tnt_base") && !checkout.mayCall("digits"))
        let job = try #require(tokens.caller(token: "other"))  // upper-case hex is accepted
        #expect(job.name == "batch-job" && job.mayCall("anything"))
        #expect(tokens.caller(token: "s3cre") == nil)
        #expect(tokens.caller(token: "") == nil)
        #expect(try AuthTokens(contents: "# nobody\n", source: "tokens").caller(token: "s3cret") == nil)
    }

    @Test(arguments: [
        ("s3cret checkout *", "not a SHA-256 in hex"),
        ("\(String(repeating: "g", count: 64)) checkout *", "not a SHA-256 in hex"),
        ("\(String(repeating: "a", count: 64)) checkout", "got 2 fields"),
        ("\(String(repeating: "a", count: 64)) check/out *", "must be 1 to 64 of"),
        ("\(String(repeating: "a", count: 64)) a *\n\(String(repeating: "b", count: 64)) a *", "line 2: name 'a' is used twice"),
        ("\(String(repeating: "a", count: 64)) a *\n\(String(repeating: "A", count: 64)) b *", "line 2: this token hash is listed twice"),
    ])
    func refusesMalformedLinesNamingTheLine(contents: String, message: String) {
        #expect {
            try AuthTokens(contents: contents, source: "tokens")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".hasPrefix("tokens, line ")
        }
    }
}
