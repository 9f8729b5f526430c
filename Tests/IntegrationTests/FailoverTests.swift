import Foundation
import Testing
import TNTClient
import TNTProtocol

/// The Swift client over two servers.
@Suite(.serialized) struct FailoverTests {
    @Test func stoppingOneServerLosesNoCallAndItIsUsedAgainWhenBack() async throws {
        let a = try ServerProcess()
        var b = try ServerProcess()
        let portB = b.port
        let client = try TNTClient(endpoints: [a.endpoint, b.endpoint],
                                   retry: RetryPolicy(maxAttempts: 8, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(500)))
        let image = try TestImages.bytes(TestImages.paths[0])
        let expected = try ServerTests.inProcess(image).ids

        // A stream of calls from 8 callers; B is stopped (SIGTERM: GOAWAY, drain) in the middle.
        let done = Counter()
        let perCaller = 60
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for _ in 0..<perCaller {
                        if try await client.predict(image: image).classIDs != expected { wrong += 1 }
                        done.increment()
                    }
                    return wrong
                }
            }
            while done.value < 100 { try await Task.sleep(for: .milliseconds(2)) }
            let atStop = done.value
            #expect(b.stop() == 0)
            #expect(atStop < 8 * perCaller - 100, "B stopped while the stream ran (\(atStop) calls done)")
            var total = 0
            for try await count in group { total += count }
            return total
        }
        #expect(done.value == 8 * perCaller, "every call answered")
        #expect(wrong == 0)

        // B is down: calls keep working through A (connection refused is retried elsewhere).
        #expect(try await client.predict(image: image).classIDs == expected)

        // B comes back on its port; A goes away: the client must find B again.
        b = try ServerProcess(port: portB)
        #expect(a.stop() == 0)
        var answered = 0
        for _ in 0..<10 where (try? await client.health()) == .serving { answered += 1 }
        #expect(answered == 10, "B was used again once it came back")
        #expect(try await client.predict(image: image).classIDs == expected)
        await client.close()
        #expect(b.stop() == 0)
    }

    @Test func unreachableEndpointsFailWithUnavailable() async throws {
        let client = try TNTClient(endpoints: ["127.0.0.1:1"], retry: RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10)))
        await #expect { try await client.health() } throws: { error in
            (error as? RPCError)?.code == .unavailable && "\(error)".contains("3 attempts")
        }
        let bounded = try TNTClient(endpoints: ["127.0.0.1:1"], retry: RetryPolicy(maxAttempts: 100, initialBackoff: .milliseconds(50)))
        await #expect { try await bounded.health(options: CallOptions(timeout: .milliseconds(300))) } throws: { error in
            (error as? RPCError)?.code == .deadlineExceeded
        }
        await #expect { try await bounded.health(options: CallOptions(deadline: .now + .milliseconds(200))) } throws: { error in
            (error as? RPCError)?.code == .deadlineExceeded
        }
        #expect(throws: RPCError.self) { try TNTClient(endpoints: ["no-port"]) }
        #expect(throws: RPCError.self) { try TNTClient(endpoints: []) }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
