import Foundation

/// How many cores this process may keep busy: the CPUs it may run on, capped by the CPU quota
/// of its cgroup (a container's `--cpus`, a Kubernetes `limits.cpu`), which the CPU count
/// alone does not show. Thread-count defaults start here, so that a container given 2 CPUs
/// on a 64-core node does not start 64 compute threads.
public enum CPUBudget {
    public static let cores: Int = {
        let online = ProcessInfo.processInfo.activeProcessorCount
        guard let quota = cgroupQuota() else { return online }
        return max(1, min(online, Int(quota.rounded(.up))))
    }()

    /// The quota in CPUs, or nil when there is none (cgroup v2 `cpu.max`, else v1 CFS files).
    static func cgroupQuota() -> Double? {
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8) {
            return quota(cpuMax: text)
        }
        for dir in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
            if let quota = try? String(contentsOfFile: dir + "/cpu.cfs_quota_us", encoding: .utf8),
               let period = try? String(contentsOfFile: dir + "/cpu.cfs_period_us", encoding: .utf8) {
                return self.quota(cfsQuota: quota, period: period)
            }
        }
        return nil
    }

    /// cgroup v2 `cpu.max`: "max 100000" (no quota) or "200000 100000" (2 CPUs).
    static func quota(cpuMax text: String) -> Double? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let quota = Double(fields[0]), let period = Double(fields[1]), quota > 0, period > 0 else { return nil }
        return quota / period
    }

    /// cgroup v1: `cpu.cfs_quota_us` (-1 for none) over `cpu.cfs_period_us`.
    static func quota(cfsQuota: String, period: String) -> Double? {
        guard let q = Double(cfsQuota.trimmingCharacters(in: .whitespacesAndNewlines)),
              let p = Double(period.trimmingCharacters(in: .whitespacesAndNewlines)), q > 0, p > 0 else { return nil }
        return q / p
    }
}
