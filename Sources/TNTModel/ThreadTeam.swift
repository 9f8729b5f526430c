import Dispatch

/// The threads one forward pass runs on. A parallel region splits `units` (patches, token
/// rows, attention heads) into one contiguous range per member; the call returns when every
/// member is done. Members call OpenBLAS single-threaded on their own rows.
struct ThreadTeam {
    let size: Int

    /// Runs `body(range, member)` for each member's share of `0..<units`, in parallel.
    func forEachRange(_ units: Int, _ body: (Range<Int>, Int) -> Void) {
        let members = min(size, units)
        if members <= 1 {
            body(0..<units, 0)
            return
        }
        withoutActuallyEscaping(body) { body in
            // Each member writes only its own range: that is what makes sharing `body` safe.
            nonisolated(unsafe) let shared = body
            DispatchQueue.concurrentPerform(iterations: members) { member in
                let base = units / members, extra = units % members
                let start = member * base + min(member, extra)
                shared(start..<start + base + (member < extra ? 1 : 0), member)
            }
        }
    }
}
