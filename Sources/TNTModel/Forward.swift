/// The TNT forward pass of PaddleClas's `tnt.py`, one function that reads top to bottom.
///
/// - input:    (batch, in_chans, img, img), normalised pixels
/// - logits:   (batch, class_num)
/// - features: (batch, embed_dim), the class token after the final LayerNorm; may be nil
///
/// Runs on the calling thread (plus OpenBLAS's own threads); allocates nothing.
public func forward(
    _ w: TNTWeights, input: UnsafePointer<Float>, batch: Int,
    logits: UnsafeMutablePointer<Float>, features: UnsafeMutablePointer<Float>?, workspace s: Workspace
) {
    precondition(batch > 0 && batch <= s.maxBatch, "batch \(batch) outside 1...\(s.maxBatch)")
    let c = w.config
    let D = c.inDim, E = c.embedDim, P = c.numPatches, N = c.numTokens
    let patches = batch * P, pixelRows = patches * c.numPixel, tokenRows = batch * N
    let pixelDim = c.numPixel * D

    // Pixel tokens, then patch tokens from them; the class token is row 0 of each image.
    pixelEmbed(s.pixels, input: input, columns: s.columns, weights: w, images: batch)
    layerNorm(s.normed, s.pixels, w.norm1Proj, rows: patches, dim: pixelDim)
    linear(s.attended, s.normed, w.proj, w.projBias, rows: patches, inDim: pixelDim, outDim: E)
    layerNorm(s.attended, s.attended, w.norm2Proj, rows: patches, dim: E)
    for image in 0..<batch {
        let t = s.tokens + image * N * E
        t.update(from: w.clsToken, count: E)
        (t + E).update(from: s.attended + image * P * E, count: P * E)
        addBias(t, w.patchPos, rows: 1, dim: N * E)
    }

    for blk in w.blocks {
        // Inner transformer over the 16 pixel tokens of every patch.
        layerNorm(s.normed, s.pixels, blk.normIn, rows: pixelRows, dim: D)
        linear(s.qk, s.normed, blk.attnIn.qk, nil, rows: pixelRows, inDim: D, outDim: 2 * D)
        linear(s.v, s.normed, blk.attnIn.v, nil, rows: pixelRows, inDim: D, outDim: D)
        innerAttention(s.attended, qk: s.qk, v: s.v, scratch: s.scores, patches: patches, dim: D, heads: c.inNumHead)
        linear(s.pixels, s.attended, blk.attnIn.proj, blk.attnIn.projBias, rows: pixelRows, inDim: D, outDim: D, accumulate: true)
        layerNorm(s.normed, s.pixels, blk.normMlpIn, rows: pixelRows, dim: D)
        linear(s.hidden, s.normed, blk.mlpIn.fc1, nil, rows: pixelRows, inDim: D, outDim: c.innerMlpHidden)
        addBiasGELU(s.hidden, blk.mlpIn.fc1Bias, rows: pixelRows, dim: c.innerMlpHidden)
        linear(s.pixels, s.hidden, blk.mlpIn.fc2, blk.mlpIn.fc2Bias, rows: pixelRows, inDim: c.innerMlpHidden, outDim: D, accumulate: true)

        // Pixel → patch: every patch token (not the class token) gains its projected pixels.
        layerNorm(s.normed, s.pixels, blk.norm1Proj, rows: patches, dim: pixelDim)
        linear(s.attended, s.normed, blk.proj, nil, rows: patches, inDim: pixelDim, outDim: E)
        for image in 0..<batch {
            layerNorm(s.tokens + (image * N + 1) * E, s.attended + image * P * E, blk.norm2Proj,
                      rows: P, dim: E, accumulate: true)
        }

        // Outer transformer over the patch tokens of every image.
        layerNorm(s.normed, s.tokens, blk.normOut, rows: tokenRows, dim: E)
        linear(s.qk, s.normed, blk.attnOut.qk, nil, rows: tokenRows, inDim: E, outDim: 2 * E)
        linear(s.v, s.normed, blk.attnOut.v, nil, rows: tokenRows, inDim: E, outDim: E)
        outerAttention(s.attended, qk: s.qk, v: s.v, scores: s.scores, images: batch, tokens: N, dim: E, heads: c.numHeads)
        linear(s.tokens, s.attended, blk.attnOut.proj, blk.attnOut.projBias, rows: tokenRows, inDim: E, outDim: E, accumulate: true)
        layerNorm(s.normed, s.tokens, blk.normMlp, rows: tokenRows, dim: E)
        linear(s.hidden, s.normed, blk.mlp.fc1, nil, rows: tokenRows, inDim: E, outDim: c.mlpHidden)
        addBiasGELU(s.hidden, blk.mlp.fc1Bias, rows: tokenRows, dim: c.mlpHidden)
        linear(s.tokens, s.hidden, blk.mlp.fc2, blk.mlp.fc2Bias, rows: tokenRows, inDim: c.mlpHidden, outDim: E, accumulate: true)
    }

    // Final norm of the class tokens, then the classifier head.
    let feats = features ?? s.features
    for image in 0..<batch {
        layerNorm(feats + image * E, s.tokens + image * N * E, w.norm, rows: 1, dim: E)
    }
    linear(logits, feats, w.head, w.headBias, rows: batch, inDim: E, outDim: c.classNum)
}
