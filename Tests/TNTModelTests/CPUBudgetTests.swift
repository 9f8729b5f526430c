import Foundation
import Testing
@testable import TNTModel

/// Reading a container's CPU quota, in the formats cgroup v1 and v2 write.
@Suite struct CPUBudgetTests {
    @Test func cgroupV2() {
        #expect(CPUBudget.quota(cpuMax: "200000 100000\n") == 2)
        #expect(CPUBudget.quota(cpuMax: "150000 100000") == 1.5)
        #expect(CPUBudget.quota(cpuMax: "max 100000\n") == nil)
        #expect(CPUBudget.quota(cpuMax: "") == nil)
    }

    @Test func cgroupV1() {
        #expect(CPUBudget.quota(cfsQuota: "400000\n", period: "100000\n") == 4)
        #expect(CPUBudget.quota(cfsQuota: "-1\n", period: "100000\n") == nil)
    }

    @Test func coresAreAtLeastOneAndAtMostTheCPUs() {
        #expect(CPUBudget.cores >= 1)
        #expect(CPUBudget.cores <= ProcessInfo.processInfo.activeProcessorCount)
    }
}
