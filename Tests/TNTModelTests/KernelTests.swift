import CKernelSupport
import Foundation
import Testing
@testable import TNTModel

/// Each optimised kernel against a plain loop written straight from the formula.
@Suite struct KernelTests {
    var rng = SplitMix64(seed: 42)

    mutating func random(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in rng.nextNormal() * scale }
    }

    @Test func expMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let values = exp16(F16((0..<16).map { x + Float($0) * 0.0007 }))
            for i in 0..<16 {
                let v = values[i]
                let exact = Foundation.exp(Double(x + Float(i) * 0.0007))
                worst = max(worst, Float(abs(Double(v) - exact) / exact))
            }
            x += 0.0137
        }
        #expect(worst < 4e-7, "exp16 relative error \(worst)")
    }

    @Test func erfMatchesLibm() {
        var worst: Float = 0
        for i in -80_000...80_000 {
            let x = Float(i) * 1e-4
            worst = max(worst, abs(erf16(F16(repeating: x))[0] - Foundation.erf(x)))
        }
        #expect(worst < 1e-6, "erf16 absolute error \(worst)")
    }

    /// The kernels that have an AVX-512 version are tested in both, wherever the CPU has it.
    enum Implementation: String, CustomTestStringConvertible, Sendable {
        case portable, avx512
        var testDescription: String { rawValue }
        static let available: [Implementation] = CPUFeatures.current.avx512f ? [.portable, .avx512] : [.portable]
    }

    func addBiasGELU(_ x: inout [Float], _ bias: [Float], rows: Int, dim: Int, _ implementation: Implementation) {
        switch implementation {
        case .portable: portableAddBiasGELU(&x, bias, rows: rows, dim: dim)
        case .avx512: tnt_add_bias_gelu_avx512(&x, bias, Int32(rows), Int32(dim))
        }
    }

    @Test(arguments: Implementation.available)
    mutating func geluHandlesTailsAndMatchesFormula(_ implementation: Implementation) {
        for count in [1, 15, 16, 17, 100] {
            let x = random(count, scale: 3)
            var y = x
            addBiasGELU(&y, [Float](repeating: 0, count: count), rows: 1, dim: count, implementation)
            for (a, b) in zip(y, x) {
                let exact = 0.5 * b * (1 + Foundation.erf(b / Float(2).squareRoot()))
                #expect(abs(a - exact) < 2e-6)
            }
        }
    }

    @Test(arguments: Implementation.available)
    func geluMatchesFormulaAcrossItsRange(_ implementation: Implementation) {
        let x = (-8_000...8_000).map { Float($0) * 1e-3 }
        var y = x
        addBiasGELU(&y, [Float](repeating: 0, count: x.count), rows: 1, dim: x.count, implementation)
        var worst = 0.0
        for (a, b) in zip(y, x) {
            let exact = 0.5 * Double(b) * (1 + Foundation.erf(Double(b) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(a) - exact))
        }
        #expect(worst < 2e-6, "GELU absolute error \(worst)")
    }

    @Test(arguments: Implementation.available)
    mutating func biasGELUMatchesFormula(_ implementation: Implementation) {
        for dim in [24, 96, 100] {
            let x = random(2 * dim, scale: 3), bias = random(dim)
            var y = x
            addBiasGELU(&y, bias, rows: 2, dim: dim, implementation)
            for i in 0..<2 * dim {
                let v = x[i] + bias[i % dim]
                #expect(abs(y[i] - 0.5 * v * (1 + Foundation.erf(v / Float(2).squareRoot()))) < 2e-6)
            }
        }
    }

    @Test(arguments: Implementation.available)
    mutating func softmaxMatchesFormula(_ implementation: Implementation) {
        for cols in [5, 16, 197] {
            let rows = 3
            let x = random(rows * cols, scale: 4)
            var y = x
            var factors = [Float](repeating: 0, count: rows)
            switch implementation {
            case .portable: portableExponentiateRows(&y, rows: rows, cols: cols, reciprocalSums: &factors)
            case .avx512: tnt_exponentiate_rows_avx512(&y, Int32(rows), Int32(cols), &factors)
            }
            scaleRows(&y, rows: rows, dim: cols, stride: cols, by: factors)
            for r in 0..<rows {
                let row = x[r * cols..<(r + 1) * cols].map(Double.init)
                let m = row.max()!, sum = row.map { Foundation.exp($0 - m) }.reduce(0, +)
                for c in 0..<cols { #expect(abs(Double(y[r * cols + c]) - Foundation.exp(row[c] - m) / sum) < 1e-6) }
            }
        }
    }

    /// Widths of one partial vector, of 16 + 8 (TNT_small's inner rows), of 40 (TNT_base's),
    /// of 64 and of TNT_small's outer rows; accumulating onto a residual too. 19 rows: narrow
    /// rows go 16 at a time in the AVX-512 version, the last 3 alone.
    @Test(arguments: Implementation.available, [false, true])
    mutating func layerNormMatchesFormula(_ implementation: Implementation, accumulate: Bool) {
        for dim in [8, 24, 40, 64, 384] {
            let rows = 19
            let x = random(rows * dim, scale: 2), w = random(dim), b = random(dim), y0 = random(rows * dim)
            var y = y0
            w.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    switch implementation {
                    case .portable:
                        portableLayerNorm(&y, x, NormWeights(weight: wp.baseAddress!, bias: bp.baseAddress!), rows: rows, dim: dim,
                                          accumulate: accumulate)
                    case .avx512:
                        tnt_layer_norm_avx512(&y, x, wp.baseAddress!, bp.baseAddress!, Int32(rows), Int32(dim), accumulate)
                    }
                }
            }
            for r in 0..<rows {
                let row = x[r * dim..<(r + 1) * dim].map(Double.init)
                let mean = row.reduce(0, +) / Double(dim)
                let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
                for i in 0..<dim {
                    let normalized = (row[i] - mean) / (variance + 1e-5).squareRoot() * Double(w[i]) + Double(b[i])
                    let exact = normalized + (accumulate ? Double(y0[r * dim + i]) : 0)
                    #expect(abs(Double(y[r * dim + i]) - exact) < 1e-5)
                }
            }
        }
    }

    /// softmax(q·kᵀ/√d)·v per head, with Paddle's (2, heads, head_dim) split of qk.
    func naiveAttention(qk: [Float], v: [Float], groups: Int, tokens: Int, dim: Int, heads: Int) -> [Float] {
        let hd = dim / heads
        var out = [Float](repeating: 0, count: groups * tokens * dim)
        for g in 0..<groups {
            for h in 0..<heads {
                for i in 0..<tokens {
                    var scores = (0..<tokens).map { j -> Double in
                        (0..<hd).reduce(0.0) { acc, d in
                            acc + Double(qk[(g * tokens + i) * 2 * dim + h * hd + d]) * Double(qk[(g * tokens + j) * 2 * dim + dim + h * hd + d])
                        } / Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    scores = scores.map { Foundation.exp($0 - m) }
                    let sum = scores.reduce(0, +)
                    for d in 0..<hd {
                        let value = (0..<tokens).reduce(0.0) { $0 + scores[$1] / sum * Double(v[(g * tokens + $1) * dim + h * hd + d]) }
                        out[(g * tokens + i) * dim + h * hd + d] = Float(value)
                    }
                }
            }
        }
        return out
    }

    /// Widths below, at and past one 16-lane block, up to the AVX-512 version's limit of 64.
    @Test(arguments: [(8, 2), (16, 4), (24, 4), (40, 4), (64, 8)], Implementation.available)
    mutating func innerAttentionMatchesNaive(shape: (dim: Int, heads: Int), _ implementation: Implementation) {
        let (dim, heads) = shape
        checkInnerAttention(dim: dim, heads: heads) { out, qk, v, patches in
            switch implementation {
            case .portable:
                var scratch = [Float](repeating: 0, count: (dim / heads + 17) * 16)
                portableInnerAttention(out, qk: qk, v: v, scratch: &scratch, patches: patches, dim: dim, heads: heads)
            case .avx512:
                tnt_inner_attention_avx512(out, qk, v, Int32(patches), Int32(dim), Int32(heads))
            }
        }
    }

    private mutating func checkInnerAttention(
        dim: Int, heads: Int,
        _ attention: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void
    ) {
        let patches = 3
        let qk = random(patches * 16 * 2 * dim, scale: 2), v = random(patches * 16 * dim)
        var out = [Float](repeating: .nan, count: patches * 16 * dim)
        out.withUnsafeMutableBufferPointer { attention($0.baseAddress!, qk, v, patches) }
        #expect(out.allSatisfy { $0.isFinite }, "an output left unwritten")
        let expected = naiveAttention(qk: qk, v: v, groups: patches, tokens: 16, dim: dim, heads: heads)
        #expect(parity(out, expected).maxError < 1e-5)
    }

    @Test mutating func outerAttentionMatchesNaive() {
        let images = 2, tokens = 17, dim = 32, heads = 4
        let qk = random(images * tokens * 2 * dim, scale: 2), v = random(images * tokens * dim)
        var out = [Float](repeating: 0, count: images * tokens * dim)
        var scores = [Float](repeating: 0, count: tokens * (tokens + 1))
        outerAttention(&out, qk: qk, v: v, scores: &scores, heads: 0..<images * heads, tokens: tokens, dim: dim, headCount: heads)
        let expected = naiveAttention(qk: qk, v: v, groups: images, tokens: tokens, dim: dim, heads: heads)
        #expect(parity(out, expected).maxError < 1e-5)
    }
}
