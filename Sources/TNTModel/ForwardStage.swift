/// The parallel stages of one forward pass: what each thread of the workspace's team runs on
/// its share of the units. One per workspace, reused by every pass.
final class ForwardPass: TeamWork {
    enum Stage {
        /// units: patches. Stem convolution, then the first pixel → patch projection.
        case embedding
        /// units: patches. The inner transformer, then pixel → patch into the patch tokens.
        case innerTransformerAndPixelToPatch
        /// units: token rows. LayerNorm, q·k and v of the outer attention.
        case outerNormQKV
        /// units: (image, head) pairs.
        case outerAttention
        /// units: token rows. Attention projection and the MLP, both with their residuals.
        case outerProjectionAndMLP
    }

    /// Patches the inner transformer runs through at once: 256 rows, whose buffers fit in L2.
    static let innerChunk = 16

    private unowned(unsafe) let s: Workspace
    private let team: ThreadTeam
    private var weights: TNTWeights?
    private var input: UnsafePointer<Float>?
    private var stage = Stage.embedding
    /// The block the block stages work on.
    var block = 0

    init(workspace: Workspace, threads: Int) {
        s = workspace
        team = ThreadTeam(size: threads)
    }

    func begin(weights: TNTWeights, input: UnsafePointer<Float>) {
        self.weights = weights
        self.input = input
    }

    func end() {
        weights = nil
        input = nil
    }

    func run(_ stage: Stage, units: Int) {
        self.stage = stage
        team.run(units, self)
    }

    func run(_ range: Range<Int>, member: Int) {
        let w = weights!, c = w.config
        switch stage {
        case .embedding:
            pixelEmbed(s.pixels, input: input!, columns: s.columns, weights: w, patches: range)
            pixelToPatch(w.norm1Proj, w.proj, w.projBias, w.norm2Proj, patches: range, config: c, accumulate: false)
        case .innerTransformerAndPixelToPatch:
            let blk = w.blocks[block]
            // A few patches at a time, so that the inner transformer's nine steps find their
            // rows still in this core's cache.
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(range.upperBound, start + Self.innerChunk)
                innerTransformer(blk, patches: start..<end, member: member, config: c)
                start = end
            }
            pixelToPatch(blk.norm1Proj, blk.proj, nil, blk.norm2Proj, patches: range, config: c, accumulate: true)
        case .outerNormQKV:
            let blk = w.blocks[block], E = c.embedDim, x = range.lowerBound, n = range.count
            layerNorm(s.normed + x * E, s.tokens + x * E, blk.normOut, rows: n, dim: E)
            linear(s.qk + x * 2 * E, s.normed + x * E, blk.attnOut.qk, nil, rows: n, inDim: E, outDim: 2 * E)
            linear(s.v + x * E, s.normed + x * E, blk.attnOut.v, nil, rows: n, inDim: E, outDim: E)
        case .outerAttention:
            outerAttention(s.attended, qk: s.qk, v: s.v, scores: s.scratch(member), heads: range,
                           tokens: c.numTokens, dim: c.embedDim, headCount: c.numHeads)
        case .outerProjectionAndMLP:
            let blk = w.blocks[block], E = c.embedDim, x = range.lowerBound, n = range.count
            let hidden = s.hidden + x * c.mlpHidden
            linear(s.tokens + x * E, s.attended + x * E, blk.attnOut.proj, blk.attnOut.projBias, rows: n, inDim: E, outDim: E, accumulate: true)
            layerNorm(s.normed + x * E, s.tokens + x * E, blk.normMlp, rows: n, dim: E)
            linear(hidden, s.normed + x * E, blk.mlp.fc1, nil, rows: n, inDim: E, outDim: c.mlpHidden)
            addBiasGELU(hidden, blk.mlp.fc1Bias, rows: n, dim: c.mlpHidden)
            linear(s.tokens + x * E, hidden, blk.mlp.fc2, blk.mlp.fc2Bias, rows: n, inDim: c.mlpHidden, outDim: E, accumulate: true)
        }
    }

    /// The inner transformer over the 16 pixel tokens of each patch in `patches`.
    private func innerTransformer(_ blk: BlockWeights, patches: Range<Int>, member: Int, config c: TNTConfig) {
        let D = c.inDim, H = c.innerMlpHidden
        let x = patches.lowerBound * c.numPixel, n = patches.count * c.numPixel
        let pixels = s.pixels + x * D, normed = s.normed + x * D, hidden = s.hidden + x * H
        layerNorm(normed, pixels, blk.normIn, rows: n, dim: D)
        linear(s.qk + x * 2 * D, normed, blk.attnIn.qk, nil, rows: n, inDim: D, outDim: 2 * D)
        linear(s.v + x * D, normed, blk.attnIn.v, nil, rows: n, inDim: D, outDim: D)
        innerAttention(s.attended + x * D, qk: s.qk + x * 2 * D, v: s.v + x * D, scratch: s.scratch(member),
                       patches: patches.count, dim: D, heads: c.inNumHead)
        linear(pixels, s.attended + x * D, blk.attnIn.proj, blk.attnIn.projBias, rows: n, inDim: D, outDim: D, accumulate: true)
        layerNorm(normed, pixels, blk.normMlpIn, rows: n, dim: D)
        linear(hidden, normed, blk.mlpIn.fc1, nil, rows: n, inDim: D, outDim: H)
        addBiasGELU(hidden, blk.mlpIn.fc1Bias, rows: n, dim: H)
        linear(pixels, hidden, blk.mlpIn.fc2, blk.mlpIn.fc2Bias, rows: n, inDim: H, outDim: D, accumulate: true)
    }

    /// Pixel → patch: the patch token of each patch in `patches` becomes (or, with
    /// `accumulate`, gains) LayerNorm₂(proj(LayerNorm₁(its 16 pixel tokens flattened))). A
    /// patch's pixel vector is embed_dim long (16 · in_dim = embed_dim), so its projection
    /// lands in its own rows of `attended`.
    private func pixelToPatch(
        _ norm1: NormWeights, _ proj: Param, _ projBias: Param?, _ norm2: NormWeights,
        patches: Range<Int>, config c: TNTConfig, accumulate: Bool
    ) {
        let E = c.embedDim, P = c.numPatches, N = c.numTokens
        let p0 = patches.lowerBound, n = patches.count
        layerNorm(s.normed + p0 * E, s.pixels + p0 * E, norm1, rows: n, dim: E)
        linear(s.attended + p0 * E, s.normed + p0 * E, proj, projBias, rows: n, inDim: E, outDim: E)
        // Token rows are image·N + 1 + patch: one contiguous run per image.
        var p = p0
        while p < patches.upperBound {
            let image = p / P, runEnd = min(patches.upperBound, (image + 1) * P)
            let token = s.tokens + (image * N + 1 + p % P) * E
            layerNorm(token, s.attended + p * E, norm2, rows: runEnd - p, dim: E, accumulate: accumulate)
            p = runEnd
        }
    }
}
