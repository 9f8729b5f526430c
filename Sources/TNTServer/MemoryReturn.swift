import Dispatch
import CMalloc

/// glibc keeps freed memory for reuse, so a burst (large frames, large images, a peer that
/// stopped reading) would leave the process at its peak for good. Blocks above 4 MiB (large
/// images, large frames) are mapped and unmapped on their own (a fixed mmap threshold, instead
/// of glibc's, which rises after each large free), and the heaps are trimmed every few seconds.
///
/// Smaller blocks stay in the heaps between trims: every image of an ordinary size allocates
/// its decoded pixels, the resize's intermediate and its tensor (0.2–4 MiB each), and mapping,
/// faulting in and unmapping those for every image cost 0.8–1 ms of a 2.8 ms preprocessing
/// (a 640×427 JPEG), plus a TLB shootdown of the threads running the forward pass at each unmap.
enum MemoryReturn {
    static let mmapThreshold: Int32 = 4 << 20
    /// glibc gives the top of a heap back only when this much of it is free; the timer does the rest.
    static let trimThreshold: Int32 = 8 << 20
    static let trimIntervalSeconds = 5

    /// Returns the timer; it trims until cancelled.
    static func start() -> DispatchSourceTimer {
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
        _ = mallopt(M_TRIM_THRESHOLD, trimThreshold)
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + .seconds(trimIntervalSeconds), repeating: .seconds(trimIntervalSeconds))
        timer.setEventHandler { _ = malloc_trim(0) }
        timer.resume()
        return timer
    }
}
