import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin HTTP port, apart from the RPC port: `/metrics` (Prometheus text), `/healthz`
/// (the process is alive) and `/readyz` (every model loaded and its workers running, and not
/// draining).
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: ServerCore
    private let metrics: @Sendable () -> String
    private var path = ""

    init(core: ServerCore, metrics: @escaping @Sendable () -> String) {
        self.core = core
        self.metrics = metrics
    }

    /// Idle (or too slow to send a request) for the admin timeout: closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.method == .GET ? String(head.uri.prefix { $0 != "?" }) : ""
        case .body:
            break
        case .end:
            let (status, type, body): (HTTPResponseStatus, String, String) = switch path {
            case "/metrics": (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics())
            case "/healthz": (.ok, "text/plain", "ok\n")
            case "/readyz": core.isReady ? (.ok, "text/plain", "ready\n")
                : (.serviceUnavailable, "text/plain", core.isDraining ? "draining\n" : "not ready: a model failed to load\n")
            default: (.notFound, "text/plain", "not found: GET /metrics, /healthz or /readyz\n")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

extension TNTServer {
    /// The admin port has its own small connection limit and timeout, so that it can never
    /// use the descriptors the RPC port needs.
    static func bindAdmin(core: ServerCore, group: EventLoopGroup, host: String, port: Int,
                          metrics: @escaping @Sendable () -> String) async throws -> Channel {
        let open = NIOLockedValueBox(0)
        let limit = core.config.adminMaxConnections
        let timeout = TimeAmount.seconds(Int64(core.config.adminTimeoutSeconds))
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = open.withLockedValue { count in
                    guard count < limit else { return false }
                    count += 1
                    return true
                }
                guard admitted else {
                    core.logger.notice("admin connection refused", metadata: ["limit": "\(limit)"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    if core.config.adminTLS, let identity = core.security.tls {
                        try TLSPipeline.add(to: channel, identity: identity, core: core, port: "admin")
                    }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: timeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(core: core, metrics: metrics))
                }
            }
            .bind(host: host, port: port).get()
    }
}
