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

/// Loads `count` (< 16) floats, the other lanes set to `fill`.
@inline(__always)
func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> F16 {
    var v = F16(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always)
func storePartial16(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

// SIMD's `clamped`, `max()` and `min()` handle NaN lane by lane and compile to scalar code;
// pointwiseMin/Max compile to vminps/vmaxps.
@inline(__always)
func clamp16(_ x: F16, _ lower: Float, _ upper: Float) -> F16 {
    pointwiseMax(pointwiseMin(x, F16(repeating: upper)), F16(repeating: lower))
}

@inline(__always)
func horizontalMax(_ v: F16) -> Float {
    let m8 = pointwiseMax(v.lowHalf, v.highHalf)
    let m4 = pointwiseMax(m8.lowHalf, m8.highHalf)
    return Swift.max(Swift.max(m4[0], m4[1]), Swift.max(m4[2], m4[3]))
}

/// e^x, Cephes's single-precision polynomial after range reduction by ln 2.
@inline(__always)
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
@inline(__always)
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

/// Applies `f` to `count` floats in place, 16 at a time.
@inline(__always)
func map16(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ f: (F16) -> F16) {
    var i = 0
    while i + 16 <= count {
        store16(f(load16(x + i)), x + i)
        i += 16
    }
    if i < count { storePartial16(f(loadPartial16(x + i, count - i)), x + i, count - i) }
}
