import Foundation
import NIOCore
import NIOPosix
import TNTProtocol

/// The servers a client balances across: one shared connection per endpoint, round robin
/// over the endpoints that are not ejected, and a failed endpoint ejected with exponential
/// backoff, then tried again.
actor EndpointPool {
    struct Endpoint {
        let host: String
        let port: Int
        var connection: Connection?
        var connecting: Task<Connection, Error>?
        var failures = 0
        var ejectedUntil: ContinuousClock.Instant?
        var name: String { "\(host):\(port)" }
    }

    private var endpoints: [Endpoint]
    private var next = 0
    private let reconnect: RetryPolicy
    private let group: EventLoopGroup
    private let tls: ClientTLS?

    init(endpoints: [(host: String, port: Int)], reconnect: RetryPolicy, tls: ClientTLS?, group: EventLoopGroup) {
        self.endpoints = endpoints.map { Endpoint(host: $0.host, port: $0.port) }
        self.reconnect = reconnect
        self.tls = tls
        self.group = group
    }

    /// The next endpoint in round robin that is not ejected; if all are, the one whose
    /// ejection ends first.
    func pick() -> Int {
        let now = ContinuousClock.now
        for offset in 0..<endpoints.count {
            let index = (next + offset) % endpoints.count
            if let until = endpoints[index].ejectedUntil, until > now { continue }
            next = index + 1
            return index
        }
        return endpoints.indices.min { endpoints[$0].ejectedUntil! < endpoints[$1].ejectedUntil! }!
    }

    func name(_ index: Int) -> String { endpoints[index].name }

    /// The endpoint's connection, made now if there is none usable.
    func connection(_ index: Int) async throws -> Connection {
        if let connection = endpoints[index].connection, connection.isUsable { return connection }
        if let connecting = endpoints[index].connecting {
            do {
                return try await connecting.value
            } catch {
                throw NotProcessed(reason: "cannot connect to \(endpoints[index].name): \(Self.reason(error))")
            }
        }
        let endpoint = endpoints[index]
        let (group, tls) = (self.group, self.tls)
        let task = Task { try await Connection.connect(host: endpoint.host, port: endpoint.port, tls: tls, group: group) }
        endpoints[index].connecting = task
        defer { endpoints[index].connecting = nil }
        do {
            let connection = try await task.value
            endpoints[index].connection = connection
            return connection
        } catch {
            failed(index)
            throw NotProcessed(reason: "cannot connect to \(endpoint.name): \(Self.reason(error))")
        }
    }

    private static func reason(_ error: Error) -> String { (error as? RPCError)?.message ?? "\(error)" }

    /// The endpoint refused or lost a call: eject it for a while.
    func failed(_ index: Int) {
        endpoints[index].failures += 1
        endpoints[index].ejectedUntil = .now + reconnect.backoff(after: endpoints[index].failures)
        if let connection = endpoints[index].connection, !connection.isUsable { endpoints[index].connection = nil }
    }

    func succeeded(_ index: Int) {
        endpoints[index].failures = 0
        endpoints[index].ejectedUntil = nil
    }

    func closeAll() async {
        for endpoint in endpoints { await endpoint.connection?.close() }
        for i in endpoints.indices { endpoints[i].connection = nil }
    }
}
