/// Vectorised exp and erf for the activation kernels. Both are within a few ulp of the
/// C library's `expf` / `erff` (checked by VectorMathTests), and have no branches.
typealias F16 = SIMD16<Float>

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> F16 {
    UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inline(__always)
func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
}

typealias F8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

// Setting or reading SIMD lanes one by one (`v[i] = x`) round-trips the whole vector through
// the stack per lane; partial loads and stores go through a 16-float stack buffer instead.

/// Loads `count` (< 16) floats, the other lanes set to `fill`.
@inline(__always)
func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> F16 {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
        let b = buffer.baseAddress!
        b.initialize(repeating: fill, count: 16)
        b.update(from: p, count: count)
        return load16(b)
    }
}

@inline(__always)
func storePartial16(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
        store16(v, buffer.baseAddress!)
        p.update(from: buffer.baseAddress!, count: count)
    }
}

// SIMD's `clamped`, `pointwiseMax`, `max()` and friends honour NaN lane by lane and compile
// to a scalar loop; a compare-and-select compiles to one vmaxps/vminps.
@inline(__always)
func max16(_ a: F16, _ b: F16) -> F16 { a.replacing(with: b, where: b .> a) }

@inline(__always)
func clamp16(_ x: F16, _ lower: Float, _ upper: Float) -> F16 {
    let low = F16(repeating: lower), high = F16(repeating: upper)
    let y = x.replacing(with: high, where: x .> high)
    return y.replacing(with: low, where: y .< low)
}

@inline(__always)
func horizontalMax(_ v: F16) -> Float {
    let m8 = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let m4 = m8.lowHalf.replacing(with: m8.highHalf, where: m8.highHalf .> m8.lowHalf)
    return Swift.max(Swift.max(m4[0], m4[1]), Swift.max(m4[2], m4[3]))
}

/// The sum of the lanes by halving (SIMD's `sum()` adds lane by lane).
@inline(__always)
func horizontalSum(_ v: F16) -> Float { horizontalSum(v.lowHalf + v.highHalf) }

@inline(__always)
func horizontalSum(_ v: F8) -> Float {
    let s4 = v.lowHalf + v.highHalf
    return (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// e^x, Cephes's single-precision polynomial after range reduction by ln 2.
/// `@_transparent`: with `@inline(__always)` alone the optimiser kept it out of line, and
/// passing SIMD16 values through the calling convention cost more than the polynomial.
@_transparent
func exp16(_ input: F16) -> F16 {
    let x = clamp16(input, -87.3, 88.3)
    // Round x·log2(e) to an integer n by adding 1.5·2^23: n lands in the low mantissa bits.
    let magic = F16(repeating: 12_582_912)
    let t = magic.addingProduct(x, F16(repeating: 1.442_695_04))
    let n = t - magic
    var r = x.addingProduct(n, F16(repeating: -0.693_359_375))
    r = r.addingProduct(n, F16(repeating: 2.121_944_4e-4))
    var p = F16(repeating: 1.987_569_150_0e-4)
    p = F16(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
    p = F16(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
    p = F16(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
    p = F16(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
    p = F16(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
    let y = (r + 1).addingProduct(p, r * r)
    // 2^n: n + 127 in the exponent field.
    let bits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((bits &+ 127) &<< 23, to: F16.self)
    return y * scale
}

/// erf(x): the rational approximation Eigen and XLA use for float, exact to about 2 ulp.
@_transparent
func erf16(_ input: F16) -> F16 {
    let x = clamp16(input, -4, 4)
    let x2 = x * x
    var p = F16(repeating: -2.726_142_258_013_06e-10)
    p = F16(repeating: 2.770_681_424_959_02e-08).addingProduct(p, x2)
    p = F16(repeating: -2.101_024_020_825_08e-06).addingProduct(p, x2)
    p = F16(repeating: -5.692_506_394_623_46e-05).addingProduct(p, x2)
    p = F16(repeating: -7.349_906_303_268_55e-04).addingProduct(p, x2)
    p = F16(repeating: -2.954_599_808_540_25e-03).addingProduct(p, x2)
    p = F16(repeating: -1.609_603_332_624_15e-02).addingProduct(p, x2)
    var q = F16(repeating: -1.456_607_184_649_96e-05)
    q = F16(repeating: -2.133_740_552_789_05e-04).addingProduct(q, x2)
    q = F16(repeating: -1.682_826_974_382_03e-03).addingProduct(q, x2)
    q = F16(repeating: -7.373_329_167_204_68e-03).addingProduct(q, x2)
    q = F16(repeating: -1.426_473_905_141_89e-02).addingProduct(q, x2)
    return x * p / q
}
