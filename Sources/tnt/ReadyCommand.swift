import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// `tnt ready`: the admin port's /readyz, for probes that cannot make RPC calls (a TLS port
/// that requires client certificates, a token file). The container's HEALTHCHECK.
struct ReadyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ready",
        abstract: "GET /readyz on a server's admin port; exits 0 only when it answers 200 (a container probe)."
    )

    @Option(help: "The admin port, HOST:PORT.") var admin: String
    @Option(help: "Seconds to wait for the answer.") var timeout = 3.0
    @Option(help: "Speak TLS to the admin port (tnt-server --admin-tls): true or false; default TNT_ADMIN_TLS, else false. Like a kubelet's HTTPS probe, the certificate is not verified.")
    var tls: Bool?

    func run() async throws {
        guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]) else {
            throw ValidationError("--admin must be HOST:PORT, got '\(admin)'")
        }
        let host = String(admin[..<colon])
        let useTLS = tls ?? (ProcessInfo.processInfo.environment["TNT_ADMIN_TLS"] == "true")
        do {
            let status = try await Self.get("/readyz", host: host, port: port, tls: useTLS, timeout: .milliseconds(Int64(timeout * 1000)))
            print(status.line)
            if status.code != 200 { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("NOT READY (\(error))")
            throw ExitCode(1)
        }
    }

    /// One HTTP/1.1 GET; returns the status line and code once the server closes.
    static func get(_ path: String, host: String, port: Int, tls: Bool, timeout: TimeAmount) async throws -> (code: Int, line: String) {
        let context: NIOSSLContext? = try tls ? {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return try NIOSSLContext(configuration: configuration)
        }() : nil
        let answer = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: String.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil)) }
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(answer: answer))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            answer.fail(error)
            throw error
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        do {
            try await channel.writeAndFlush(ByteBuffer(string: request))
        } catch {
            channel.close(promise: nil)
            throw error
        }
        channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        let text = try await answer.futureResult.get()
        let line = text.split(whereSeparator: \.isNewline).first ?? ""
        guard let code = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw ValidationError("no HTTP answer from \(host):\(port)")
        }
        return (code, String(line))
    }
}

/// Gathers what the server sends and hands it over when the connection closes.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let answer: EventLoopPromise<String>
    private var text = ""

    init(answer: EventLoopPromise<String>) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if text.utf8.count < 4096 { text += buffer.readString(length: buffer.readableBytes) ?? "" }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    func handlerRemoved(context: ChannelHandlerContext) { answer.succeed(text) }
}
