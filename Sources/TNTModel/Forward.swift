/// The TNT forward pass of PaddleClas's `tnt.py`, one function that reads top to bottom.
///
/// - input:    (batch, in_chans, img, img), normalised pixels
/// - logits:   (batch, class_num)
/// - features: (batch, embed_dim), the class token after the final LayerNorm; may be nil
///
/// Runs on `workspace.threads` threads: every stage is independent per patch, per token row
/// or per attention head, so each parallel region gives each thread a contiguous share of
/// those and single-threaded OpenBLAS on it. Five regions per block boundary in all; one
/// image on two threads is split as evenly as eight. Allocates nothing.
public func forward(
    _ w: TNTWeights, input: UnsafePointer<Float>, batch: Int,
    logits: UnsafeMutablePointer<Float>, features: UnsafeMutablePointer<Float>?, workspace s: Workspace
) {
    precondition(batch > 0 && batch <= s.maxBatch, "batch \(batch) outside 1...\(s.maxBatch)")
    let c = w.config
    let E = c.embedDim, N = c.numTokens
    let team = ThreadTeam(size: s.threads)
    let io = ForwardPointers(input: input)

    // Pixel tokens, then patch tokens from them (class token: row 0 of each image).
    team.forEachRange(batch * c.numPatches) { patches, _ in
        pixelEmbed(s.pixels, input: io.input, columns: s.columns, weights: w, patches: patches)
        pixelToPatch(s, w.norm1Proj, w.proj, w.projBias, w.norm2Proj, patches: patches, config: c, accumulate: false)
    }
    for image in 0..<batch {
        let t = s.tokens + image * N * E
        t.update(from: w.clsToken, count: E)
        addBias(t, w.patchPos, rows: 1, dim: N * E)
    }

    for blk in w.blocks {
        team.forEachRange(batch * c.numPatches) { patches, member in
            innerTransformer(s, blk, patches: patches, member: member, config: c)
            pixelToPatch(s, blk.norm1Proj, blk.proj, nil, blk.norm2Proj, patches: patches, config: c, accumulate: true)
        }
        team.forEachRange(batch * N) { rows, _ in
            let x = rows.lowerBound, n = rows.count
            layerNorm(s.normed + x * E, s.tokens + x * E, blk.normOut, rows: n, dim: E)
            linear(s.qk + x * 2 * E, s.normed + x * E, blk.attnOut.qk, nil, rows: n, inDim: E, outDim: 2 * E)
            linear(s.v + x * E, s.normed + x * E, blk.attnOut.v, nil, rows: n, inDim: E, outDim: E)
        }
        team.forEachRange(batch * c.numHeads) { heads, member in
            outerAttention(s.attended, qk: s.qk, v: s.v, scores: s.scratch(member), heads: heads,
                           tokens: N, dim: E, headCount: c.numHeads)
        }
        team.forEachRange(batch * N) { rows, _ in
            let x = rows.lowerBound, n = rows.count
            let hidden = s.hidden + x * c.mlpHidden
            linear(s.tokens + x * E, s.attended + x * E, blk.attnOut.proj, blk.attnOut.projBias, rows: n, inDim: E, outDim: E, accumulate: true)
            layerNorm(s.normed + x * E, s.tokens + x * E, blk.normMlp, rows: n, dim: E)
            linear(hidden, s.normed + x * E, blk.mlp.fc1, nil, rows: n, inDim: E, outDim: c.mlpHidden)
            addBiasGELU(hidden, blk.mlp.fc1Bias, rows: n, dim: c.mlpHidden)
            linear(s.tokens + x * E, hidden, blk.mlp.fc2, blk.mlp.fc2Bias, rows: n, inDim: c.mlpHidden, outDim: E, accumulate: true)
        }
    }

    // Final norm of the class tokens, then the classifier head.
    let feats = features ?? s.features
    for image in 0..<batch {
        layerNorm(feats + image * E, s.tokens + image * N * E, w.norm, rows: 1, dim: E)
    }
    linear(logits, feats, w.head, w.headBias, rows: batch, inDim: E, outDim: c.classNum)
}

/// The inner transformer over the 16 pixel tokens of each patch in `patches`.
private func innerTransformer(_ s: Workspace, _ blk: BlockWeights, patches: Range<Int>, member: Int, config c: TNTConfig) {
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

/// Pixel → patch: the patch token of each patch in `patches` becomes (or, with `accumulate`,
/// gains) LayerNorm₂(proj(LayerNorm₁(its 16 pixel tokens flattened))). Each patch's pixel
/// vector is embed_dim long (16 · in_dim = embed_dim), so its projection lands in its own
/// rows of `attended`.
private func pixelToPatch(
    _ s: Workspace, _ norm1: NormWeights, _ proj: Param, _ projBias: Param?, _ norm2: NormWeights,
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

/// The caller's input, shared with the threads of a region (they only read it).
private struct ForwardPointers: @unchecked Sendable {
    let input: UnsafePointer<Float>
}
