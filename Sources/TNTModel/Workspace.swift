/// Every scratch buffer one forward pass needs, allocated once for a maximum batch and the
/// threads that share the pass. A workspace serves one forward pass at a time; the forward
/// pass allocates nothing.
public final class Workspace: @unchecked Sendable {
    public let maxBatch: Int
    /// Threads of the forward pass; each has its own attention scratch.
    public let threads: Int
    /// Bytes held by all buffers.
    public let byteCount: Int
    let pixels: UnsafeMutablePointer<Float>   // (B·patches·16, in_dim): pixel tokens
    let tokens: UnsafeMutablePointer<Float>   // (B·tokens, embed_dim): patch tokens, class token first
    let normed: UnsafeMutablePointer<Float>   // LayerNorm output, inner or outer
    let qk: UnsafeMutablePointer<Float>       // (rows, 2·dim)
    let v: UnsafeMutablePointer<Float>        // (rows, dim)
    let attended: UnsafeMutablePointer<Float> // (rows, dim): attention output, also pixel→patch projection
    let hidden: UnsafeMutablePointer<Float>   // (rows, mlp hidden)
    let columns: UnsafeMutablePointer<Float>  // (B·patches·16, in_chans·49): stem im2col
    let scores: UnsafeMutablePointer<Float>   // per thread: (tokens, tokens + 1), also inner attention scratch
    private let scoresStride: Int
    let features: UnsafeMutablePointer<Float> // (B, embed_dim)
    private let storage: UnsafeMutableRawPointer

    public init(config c: TNTConfig, maxBatch: Int, threads: Int = 1) {
        precondition(maxBatch > 0 && threads > 0, "maxBatch and threads must be positive")
        self.maxBatch = maxBatch
        self.threads = threads
        scoresStride = (max(c.numTokens * (c.numTokens + 1), (c.innerHeadDim + 17) * 16) + 15) & ~15
        // Inner rows (patches·16) carry in_dim each: patches·embed_dim floats, as outer rows do.
        let rowsDim = maxBatch * c.numTokens * c.embedDim
        let hiddenSize = maxBatch * max(c.numTokens * c.mlpHidden, c.numPatches * c.numPixel * c.innerMlpHidden)
        let sizes = [
            rowsDim, rowsDim, rowsDim, 2 * rowsDim, rowsDim, rowsDim, hiddenSize,
            maxBatch * c.numPatches * c.numPixel * c.inChans * 49,
            threads * scoresStride,
            maxBatch * c.embedDim,
        ]
        // Each buffer starts on its own 64-byte line.
        let padded = sizes.map { ($0 + 15) & ~15 }
        byteCount = padded.reduce(0, +) * 4
        storage = .allocate(byteCount: byteCount, alignment: 64)
        storage.initializeMemory(as: Float.self, repeating: 0, count: byteCount / 4)
        var next = storage.assumingMemoryBound(to: Float.self)
        var buffers: [UnsafeMutablePointer<Float>] = []
        for size in padded {
            buffers.append(next)
            next += size
        }
        (pixels, tokens, normed, qk, v, attended, hidden, columns, scores, features) =
            (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5], buffers[6], buffers[7], buffers[8], buffers[9])
    }

    /// The threads of the pass and what they run.
    private(set) lazy var pass = ForwardPass(workspace: self, threads: threads)

    /// Attention scratch of one thread of the pass.
    func scratch(_ member: Int) -> UnsafeMutablePointer<Float> { scores + member * scoresStride }

    deinit { storage.deallocate() }
}
