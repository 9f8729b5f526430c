import CKernelSupport
import Foundation
import Synchronization

/// What the threads of a team run in a parallel region: each its own share of the units.
protocol TeamWork: AnyObject {
    func run(_ range: Range<Int>, member: Int)
}

/// The threads one forward pass runs on: the caller plus `size - 1` helper threads started
/// once. A region splits `units` (patches, token rows, heads) into one contiguous range per
/// member and returns when every member is done. Between regions the helpers spin briefly on
/// a generation counter (the next region usually starts within microseconds), then park on a
/// semaphore; nothing is allocated per region, so the forward pass stays allocation-free.
final class ThreadTeam: @unchecked Sendable {
    let size: Int
    private let shared: Shared

    init(size: Int) {
        precondition(size > 0)
        self.size = size
        shared = Shared(helpers: size - 1)
        for helper in 0..<size - 1 {
            let shared = self.shared
            let thread = Thread { shared.serve(helper) }
            thread.name = "tnt-forward-\(helper + 1)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { shared.stop() }

    /// Runs `work` on each member's share of `0..<units`, in parallel; members with no units sit out.
    func run(_ units: Int, _ work: TeamWork) {
        let members = min(size, units)
        if members <= 1 {
            work.run(0..<units, member: 0)
            return
        }
        shared.begin(work, units: units, members: members)
        work.run(Shared.share(of: 0, units: units, members: members), member: 0)
        shared.finish()
    }

    /// The state the helper threads read; it outlives the team until every helper has left.
    private final class Shared: @unchecked Sendable {
        /// Polls before a helper parks: tens of microseconds, longer than a gap between regions.
        static let spins = 4_000

        private let generation = Atomic<Int>(0)
        private let remaining = Atomic<Int>(0)
        private let helpers: [Helper]
        // Written by the caller before it bumps `generation` (release), read by helpers after
        // they see the bump (acquire).
        private var work: TeamWork?
        private var units = 0, members = 0
        private var stopping = false

        /// One helper's parking place.
        private final class Helper: Sendable {
            let parked = Atomic<Bool>(false)
            let wake = DispatchSemaphore(value: 0)

            /// Wakes the helper if it is parked.
            func unpark() {
                if parked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged { wake.signal() }
            }
        }

        init(helpers count: Int) { helpers = (0..<count).map { _ in Helper() } }

        static func share(of member: Int, units: Int, members: Int) -> Range<Int> {
            let base = units / members, extra = units % members
            let start = member * base + min(member, extra)
            return start..<start + base + (member < extra ? 1 : 0)
        }

        func begin(_ work: TeamWork, units: Int, members: Int) {
            self.work = work
            self.units = units
            self.members = members
            // Every helper answers every region, working or not, so a slow one can never
            // mistake the next region's parameters for this one's.
            remaining.store(helpers.count, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            for helper in helpers { helper.unpark() }
        }

        func finish() {
            var polls = 0
            while remaining.load(ordering: .acquiring) > 0 {
                polls += 1
                if polls < Self.spins { tnt_cpu_relax() } else { sched_yield() }
            }
            work = nil
        }

        func stop() {
            stopping = true
            generation.add(1, ordering: .sequentiallyConsistent)
            for helper in helpers { helper.unpark() }
        }

        func serve(_ helper: Int) {
            var seen = 0
            while true {
                var polls = 0
                while generation.load(ordering: .acquiring) == seen && polls < Self.spins {
                    polls += 1
                    tnt_cpu_relax()
                }
                if generation.load(ordering: .acquiring) == seen { park(helper, seen: seen) }
                seen = generation.load(ordering: .acquiring)
                if stopping { return }
                let member = helper + 1
                if member < members {
                    work!.run(Self.share(of: member, units: units, members: members), member: member)
                }
                remaining.subtract(1, ordering: .releasing)
            }
        }

        /// Sleeps until the generation moves past `seen`. Exactly one side turns `parked` back
        /// to false: the caller (then it signals, and this side must take the signal) or this
        /// side, having seen the new generation itself (then no signal was sent).
        private func park(_ index: Int, seen: Int) {
            let helper = helpers[index]
            helper.parked.store(true, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) != seen,
               helper.parked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
                return
            }
            helper.wake.wait()
        }
    }
}
