import Foundation
import NIOCore
import NIOPosix
import TNTProtocol

/// The servers a client balances across. Each configured endpoint is a host and a port; a
/// host that is a DNS name stands for every address it resolves to (a headless Service's
/// pods), re-resolved every `discovery.reresolveInterval` and at once when a connection goes
/// away. One shared connection per address; calls go round robin (or to the least loaded)
/// over the addresses that are not ejected; a failing address is ejected with exponential
/// backoff; an address gone from DNS takes no new calls and is closed once its calls are
/// answered.
actor EndpointPool {
    struct Endpoint {
        let host: String
        let port: Int
        /// Whether `host` is a name to resolve, not an address.
        let isName: Bool
    }

    struct Target {
        let endpoint: Int
        let address: String
        var connection: Connection?
        var connecting: Task<Connection, Error>?
        var failures = 0
        var ejectedUntil: ContinuousClock.Instant?
        var inFlight = 0
        /// Gone from DNS: no new calls; dropped once `inFlight` is 0.
        var removed = false
    }

    private let endpoints: [Endpoint]
    private var targets: [Int: Target] = [:]
    /// Target ids in the order round robin visits them.
    private var order: [Int] = []
    private var nextTargetID = 0
    private var cursor = 0
    private let reconnect: RetryPolicy
    private let discovery: Discovery
    private let group: EventLoopGroup
    private let tls: ClientTLS?
    private var resolvedAt: ContinuousClock.Instant?
    private var resolving: Task<Void, Never>?

    init(endpoints: [(host: String, port: Int)], reconnect: RetryPolicy, discovery: Discovery, tls: ClientTLS?, group: EventLoopGroup) {
        self.endpoints = endpoints.map { Endpoint(host: $0.host, port: $0.port, isName: !Resolver.isAddress($0.host)) }
        self.reconnect = reconnect
        self.discovery = discovery
        self.tls = tls
        self.group = group
        for (index, endpoint) in self.endpoints.enumerated() where !endpoint.isName {
            targets[nextTargetID] = Target(endpoint: index, address: endpoint.host)
            order.append(nextTargetID)
            nextTargetID += 1
        }
    }

    // MARK: Choosing

    /// The target for the next call, counted in flight until `finished`: round robin (or the
    /// least loaded) over the targets not ejected and not removed; if every one is ejected,
    /// the one whose ejection ends first.
    func pick() async throws -> Int {
        if resolvedAt == nil && endpoints.contains(where: \.isName) { await resolveNow() }
        if let resolvedAt, ContinuousClock.now - resolvedAt >= discovery.reresolveInterval { resolveSoon() }
        let live = liveIDs
        guard !live.isEmpty else {
            resolveSoon()
            throw NotProcessed(reason: "no address: \(endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ", ")) resolved to none")
        }
        let now = ContinuousClock.now
        let ready = live.filter { (targets[$0]!.ejectedUntil ?? now) <= now }
        let chosen: Int
        if ready.isEmpty {
            chosen = live.min { targets[$0]!.ejectedUntil! < targets[$1]!.ejectedUntil! }!
        } else {
            let start = cursor % ready.count
            let rotated = Array(ready[start...] + ready[..<start])
            chosen = discovery.balancing == .leastLoaded
                ? rotated.min { targets[$0]!.inFlight < targets[$1]!.inFlight }!
                : rotated[0]
            cursor = start + 1
        }
        targets[chosen]!.inFlight += 1
        return chosen
    }

    /// The call on `id` is over.
    func finished(_ id: Int) {
        guard var target = targets[id] else { return }
        target.inFlight -= 1
        targets[id] = target
        if target.removed && target.inFlight == 0 { drop(id) }
    }

    func name(_ id: Int) -> String {
        guard let target = targets[id] else { return "a removed address" }
        let endpoint = endpoints[target.endpoint]
        let address = target.address.contains(":") ? "[\(target.address)]" : target.address
        return endpoint.isName ? "\(endpoint.host) (\(address)):\(endpoint.port)" : "\(address):\(endpoint.port)"
    }

    /// The targets that take new calls, in round-robin order.
    private var liveIDs: [Int] { order.filter { !targets[$0]!.removed } }

    /// The addresses that take new calls, named (for `TNTClient.servers`).
    var liveTargets: [String] { liveIDs.map { name($0) } }

    // MARK: Connections

    /// The target's connection, made now if there is none usable.
    func connection(_ id: Int) async throws -> Connection {
        guard let target = targets[id] else { throw NotProcessed(reason: "the address was removed") }
        if let connection = target.connection {
            if connection.isUsable { return connection }
            // GOAWAY (a draining or aged-out server) or closed: look at DNS again at once.
            resolveSoon()
        }
        if let connecting = target.connecting {
            do {
                return try await connecting.value
            } catch {
                throw NotProcessed(reason: "cannot connect to \(name(id)): \(Self.reason(error))")
            }
        }
        let port = endpoints[target.endpoint].port
        let (group, tls) = (self.group, self.tls)
        // TLS verifies the configured name, not the address it resolved to.
        let tlsForTarget = tls.map { ClientTLS(context: $0.context, serverName: $0.serverName ?? (endpoints[target.endpoint].isName ? endpoints[target.endpoint].host : nil)) }
        let address = target.address
        let task = Task { try await Connection.connect(host: address, port: port, tls: tlsForTarget, group: group) }
        targets[id]?.connecting = task
        do {
            let connection = try await task.value
            guard targets[id] != nil else {
                // Removed from the name while connecting: not used.
                await connection.close()
                throw NotProcessed(reason: "\(address) left the name while connecting")
            }
            targets[id]?.connecting = nil
            targets[id]?.connection = connection
            return connection
        } catch let error as NotProcessed {
            throw error
        } catch {
            // The caller ejects the target (TNTClient.send), once per failed attempt.
            targets[id]?.connecting = nil
            throw NotProcessed(reason: "cannot connect to \(name(id)): \(Self.reason(error))")
        }
    }

    private static func reason(_ error: Error) -> String { (error as? RPCError)?.message ?? "\(error)" }

    /// The target refused or lost a call: eject it for a while.
    func failed(_ id: Int) {
        guard var target = targets[id] else { return }
        target.failures += 1
        target.ejectedUntil = .now + reconnect.backoff(after: target.failures)
        if let connection = target.connection, !connection.isUsable { target.connection = nil }
        targets[id] = target
    }

    func succeeded(_ id: Int) {
        targets[id]?.failures = 0
        targets[id]?.ejectedUntil = nil
    }

    func closeAll() async {
        resolving?.cancel()
        for target in targets.values { await target.connection?.close() }
        for id in targets.keys { targets[id]?.connection = nil }
    }

    // MARK: Resolution

    private func add(endpoint: Int, address: String) {
        let id = nextTargetID
        nextTargetID += 1
        targets[id] = Target(endpoint: endpoint, address: address)
        order.append(id)
    }

    private func drop(_ id: Int) {
        if let connection = targets.removeValue(forKey: id)?.connection { Task { await connection.close() } }
        order.removeAll { $0 == id }
    }

    /// Starts a re-resolution unless one is running (or ran in the last 250 ms).
    private func resolveSoon() {
        guard endpoints.contains(where: \.isName), resolving == nil else { return }
        if let resolvedAt, ContinuousClock.now - resolvedAt < .milliseconds(250) { return }
        resolving = Task { await self.resolveNow() }
    }

    private func resolveNow() async {
        var found: [Int: [String]] = [:]
        for (index, endpoint) in endpoints.enumerated() where endpoint.isName {
            // A failed lookup keeps what was known: DNS trouble is not a fleet going away.
            if let addresses = try? await Resolver.addresses(of: endpoint.host, port: endpoint.port) { found[index] = addresses }
        }
        apply(found)
        resolvedAt = .now
        resolving = nil
    }

    /// Adds the addresses that appeared, and retires those that went away.
    private func apply(_ found: [Int: [String]]) {
        for (endpoint, addresses) in found {
            let known = order.filter { targets[$0]!.endpoint == endpoint && !targets[$0]!.removed }
            let knownAddresses = Set(known.map { targets[$0]!.address })
            for address in addresses where !knownAddresses.contains(address) {
                // A removed target coming back is revived rather than duplicated.
                if let back = order.first(where: { targets[$0]!.endpoint == endpoint && targets[$0]!.address == address }) {
                    targets[back]!.removed = false
                } else {
                    add(endpoint: endpoint, address: address)
                }
            }
            for id in known where !addresses.contains(targets[id]!.address) {
                targets[id]!.removed = true
                if targets[id]!.inFlight == 0 { drop(id) }
            }
        }
    }
}

/// How a client finds and spreads over a name's servers.
public struct Discovery: Sendable {
    public enum Balancing: Sendable {
        /// Each call to the next address in turn.
        case roundRobin
        /// Each call to the address with the fewest calls in flight (ties in turn).
        case leastLoaded
    }

    /// How often names are resolved again (also at once when a connection goes away).
    public var reresolveInterval: Duration
    public var balancing: Balancing

    /// The defaults: re-resolution every 30 s, round robin.
    public init(reresolveInterval: Duration = .seconds(30), balancing: Balancing = .roundRobin) {
        self.reresolveInterval = reresolveInterval
        self.balancing = balancing
    }
}

/// getaddrinfo, off the caller's thread.
enum Resolver {
    static func isAddress(_ host: String) -> Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }

    /// Every TCP address of `host`, in the resolver's order, each once.
    static func addresses(of host: String, port: Int) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, String(port), &hints, &list)
                guard status == 0 else {
                    continuation.resume(throwing: RPCError(.unavailable, "cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
                    return
                }
                defer { freeaddrinfo(list) }
                var found: [String] = []
                var entry = list
                while let info = entry?.pointee {
                    if let address = info.ai_addr, let text = try? SocketAddress(address, length: info.ai_addrlen).ipAddress,
                       !found.contains(text) {
                        found.append(text)
                    }
                    entry = info.ai_next
                }
                continuation.resume(returning: found)
            }
        }
    }
}

extension SocketAddress {
    init(_ address: UnsafePointer<sockaddr>, length: socklen_t) throws {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            self = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
        case AF_INET6:
            self = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
        default:
            throw RPCError(.unavailable, "unsupported address family \(address.pointee.sa_family)")
        }
    }
}
