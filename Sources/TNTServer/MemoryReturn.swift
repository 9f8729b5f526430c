import Dispatch
import CMalloc

/// glibc keeps freed memory for reuse, so a burst (large frames, large images, a peer that
/// stopped reading) would leave the process at its peak for good. Large blocks are mapped
/// and unmapped on their own (a fixed mmap threshold, instead of glibc's, which rises after
/// each large free), and the heaps are trimmed every few seconds.
enum MemoryReturn {
    static let mmapThreshold: Int32 = 256 << 10
    static let trimIntervalSeconds = 5

    /// Returns the timer; it trims until cancelled.
    static func start() -> DispatchSourceTimer {
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + .seconds(trimIntervalSeconds), repeating: .seconds(trimIntervalSeconds))
        timer.setEventHandler { _ = malloc_trim(0) }
        timer.resume()
        return timer
    }
}
