/// The TNT forward pass of PaddleClas's `tnt.py`, one function that reads top to bottom.
///
/// - input:    (batch, in_chans, img, img), normalised pixels
/// - logits:   (batch, class_num)
/// - features: (batch, embed_dim), the class token after the final LayerNorm; may be nil
///
/// Runs on the workspace's threads: every stage is independent per patch, per token row or
/// per attention head, so each parallel stage (`ForwardPass`) gives each thread a contiguous
/// share of those and single-threaded OpenBLAS on it; one image on two threads is shared as
/// evenly as eight. Allocates nothing.
public func forward(
    _ w: TNTWeights, input: UnsafePointer<Float>, batch: Int,
    logits: UnsafeMutablePointer<Float>, features: UnsafeMutablePointer<Float>?, workspace s: Workspace
) {
    precondition(batch > 0 && batch <= s.maxBatch, "batch \(batch) outside 1...\(s.maxBatch)")
    let c = w.config
    let E = c.embedDim, N = c.numTokens
    let pass = s.pass
    pass.begin(weights: w, input: input)
    defer { pass.end() }

    // Pixel tokens, then patch tokens from them (class token: row 0 of each image).
    pass.run(.embedding, units: batch * c.numPatches)
    for image in 0..<batch {
        let t = s.tokens + image * N * E
        t.update(from: w.clsToken, count: E)
        addBias(t, w.patchPos, rows: 1, dim: N * E)
    }

    for blk in w.blocks.indices {
        pass.block = blk
        pass.run(.innerTransformerAndPixelToPatch, units: batch * c.numPatches)
        pass.run(.outerNormQKV, units: batch * N)
        pass.run(.outerAttention, units: batch * c.numHeads)
        pass.run(.outerProjectionAndMLP, units: batch * N)
    }

    // Final norm of the class tokens, then the classifier head.
    let feats = features ?? s.features
    for image in 0..<batch {
        layerNorm(feats + image * E, s.tokens + image * N * E, w.norm, rows: 1, dim: E)
    }
    linear(logits, feats, w.head, w.headBias, rows: batch, inDim: E, outDim: c.classNum)
}
