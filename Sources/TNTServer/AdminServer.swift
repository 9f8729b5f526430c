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
    static func bindAdmin(core: ServerCore, group: EventLoopGroup, host: String, port: Int,
                          metrics: @escaping @Sendable () -> String) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(core: core, metrics: metrics))
                }
            }
            .bind(host: host, port: port).get()
    }
}
