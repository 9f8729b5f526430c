import CKernelSupport

/// The instruction sets this CPU offers and the operating system enables (cpuid + xgetbv).
public struct CPUFeatures: Sendable, Equatable {
    public var vendor: String
    public var family: Int
    public var model: Int
    public var sse3 = false, ssse3 = false, sse42 = false
    public var avx = false, fma = false, avx2 = false
    public var avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512cd = false
    public var avx512bf16 = false

    public init(vendor: String = "", family: Int = 0, model: Int = 0) {
        self.vendor = vendor
        self.family = family
        self.model = model
    }

    /// The CPU this process runs on.
    public static let current: CPUFeatures = {
        var raw = tnt_cpu_read_features()
        let vendor = withUnsafeBytes(of: &raw.vendor) { String(decoding: $0.prefix(12), as: UTF8.self) }
        var f = CPUFeatures(vendor: vendor, family: Int(raw.family), model: Int(raw.model))
        (f.sse3, f.ssse3, f.sse42) = (raw.sse3, raw.ssse3, raw.sse4_2)
        (f.avx, f.fma, f.avx2) = (raw.avx, raw.fma, raw.avx2)
        (f.avx512f, f.avx512bw, f.avx512dq, f.avx512vl, f.avx512cd) =
            (raw.avx512f, raw.avx512bw, raw.avx512dq, raw.avx512vl, raw.avx512cd)
        f.avx512bf16 = raw.avx512_bf16
        return f
    }()

    public var isAMD: Bool { vendor == "AuthenticAMD" }

    /// Whether OpenBLAS's AVX-512 (SkylakeX) kernels run here.
    public var hasAVX512Kernels: Bool { KernelFamily.skylakeX.missingFeatures(on: self) == nil }

    /// For logs: `AuthenticAMD family 25 model 17: avx2 fma avx512f ...`.
    public var summary: String {
        let flags: [(String, Bool)] = [
            ("sse3", sse3), ("ssse3", ssse3), ("sse4.2", sse42), ("avx", avx), ("fma", fma), ("avx2", avx2),
            ("avx512f", avx512f), ("avx512bw", avx512bw), ("avx512dq", avx512dq), ("avx512vl", avx512vl),
            ("avx512cd", avx512cd), ("avx512_bf16", avx512bf16),
        ]
        return "\(vendor) family \(family) model \(model): " + flags.filter(\.1).map(\.0).joined(separator: " ")
    }
}
