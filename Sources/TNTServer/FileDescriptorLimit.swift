import Glibc
import Logging

/// Descriptors: each connection holds one. The soft RLIMIT_NOFILE (often 1024) is raised to
/// the hard limit; if even that cannot hold every connection the configuration allows, the
/// connection limit is lowered to fit, so that the limit's GOAWAY is what a client meets
/// rather than a hanging accept.
enum FileDescriptorLimit {
    /// Descriptors kept for everything else: models, listeners, logs, the event loop.
    static let reserve = 64

    static func fit(_ config: ServerConfig, logger: Logger) -> ServerConfig {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return config }
        let wanted = rlim_t(config.maxConnections + config.adminMaxConnections + reserve)
        if limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = min(limit.rlim_max, max(wanted, limit.rlim_cur))
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur < wanted else { return config }
        var fitted = config
        let room = Int(limit.rlim_cur) - config.adminMaxConnections - reserve
        fitted.maxConnections = max(1, room)
        logger.warning("the descriptor limit cannot hold --max-connections; serving fewer", metadata: [
            "rlimit_nofile": "\(limit.rlim_cur)", "max_connections": "\(config.maxConnections)",
            "effective_max_connections": "\(fitted.maxConnections)",
        ])
        return fitted
    }
}
