import Foundation

/// What the threads of a team run in a parallel region: each its own share of the units.
protocol TeamWork: AnyObject {
    func run(_ range: Range<Int>, member: Int)
}

/// The threads one forward pass runs on: the caller plus `size - 1` helper threads started
/// once and parked between regions. A region splits `units` (patches, token rows, heads) into
/// one contiguous range per member and returns when every member is done. Nothing is
/// allocated per region, so the forward pass stays allocation-free on any number of threads.
final class ThreadTeam: @unchecked Sendable {
    let size: Int
    private let shared: Shared

    init(size: Int) {
        precondition(size > 0)
        self.size = size
        shared = Shared(helpers: size - 1)
        for helper in 0..<size - 1 {
            let shared = self.shared
            let thread = Thread { shared.serve(member: helper + 1) }
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
        private let wake: [DispatchSemaphore]
        private let done = DispatchSemaphore(value: 0)
        // Written by the caller before the helpers are woken, read by them after: the
        // semaphores order the accesses.
        private var work: TeamWork?
        private var units = 0, members = 0
        private var stopping = false

        init(helpers: Int) { wake = (0..<helpers).map { _ in DispatchSemaphore(value: 0) } }

        static func share(of member: Int, units: Int, members: Int) -> Range<Int> {
            let base = units / members, extra = units % members
            let start = member * base + min(member, extra)
            return start..<start + base + (member < extra ? 1 : 0)
        }

        func begin(_ work: TeamWork, units: Int, members: Int) {
            self.work = work
            self.units = units
            self.members = members
            for member in 1..<members { wake[member - 1].signal() }
        }

        func finish() {
            for _ in 1..<members { done.wait() }
            work = nil
        }

        func serve(member: Int) {
            while true {
                wake[member - 1].wait()
                if stopping { return }
                work!.run(Self.share(of: member, units: units, members: members), member: member)
                done.signal()
            }
        }

        func stop() {
            stopping = true
            for semaphore in wake { semaphore.signal() }
        }
    }
}
