/// An OpenBLAS kernel family (the names `OPENBLAS_CORETYPE` takes) this product knows the
/// requirements of, fastest first. OpenBLAS 0.3.21 knows more (Atom, Bulldozer, ...): those
/// may be named and are self-checked, but never chosen.
public enum KernelFamily: String, CaseIterable, Sendable {
    /// SkylakeX's AVX-512 sgemm with Cooper Lake's blocking (measured faster on TNT's shapes).
    case cooperlake = "Cooperlake"
    case skylakeX = "SkylakeX"
    /// Haswell's AVX2 + FMA kernels with AMD Zen's blocking.
    case zen = "Zen"
    case haswell = "Haswell"
    case sandybridge = "Sandybridge"
    /// SSE3: every x86-64 CPU of the last twenty years.
    case prescott = "Prescott"

    /// The family by an `OPENBLAS_CORETYPE` value, case-insensitively.
    public init?(name: String) {
        guard let family = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else { return nil }
        self = family
    }

    /// Whether this family's kernels are AVX-512 ones.
    public var isAVX512: Bool { self == .cooperlake || self == .skylakeX }

    /// What the CPU lacks for this family's kernels, or nil when it has everything.
    public func missingFeatures(on cpu: CPUFeatures) -> [String]? {
        let needs: [(String, Bool)]
        switch self {
        case .cooperlake: needs = Self.avx512Needs(cpu) + [("avx512_bf16", cpu.avx512bf16)]
        case .skylakeX: needs = Self.avx512Needs(cpu)
        case .zen, .haswell: needs = [("avx2", cpu.avx2), ("fma", cpu.fma)]
        case .sandybridge: needs = [("avx", cpu.avx)]
        case .prescott: needs = [("sse3", cpu.sse3)]
        }
        let missing = needs.filter { !$0.1 }.map(\.0)
        return missing.isEmpty ? nil : missing
    }

    private static func avx512Needs(_ cpu: CPUFeatures) -> [(String, Bool)] {
        [("avx512f", cpu.avx512f), ("avx512bw", cpu.avx512bw), ("avx512dq", cpu.avx512dq),
         ("avx512vl", cpu.avx512vl), ("avx512cd", cpu.avx512cd)]
    }

    /// The families this CPU can run, best first: the first is chosen, the rest are the
    /// fallbacks in order when a self-check fails. Zen's blocking on AMD, Haswell's elsewhere.
    public static func ladder(for cpu: CPUFeatures) -> [KernelFamily] {
        allCases.filter { family in
            switch family {
            case .zen: cpu.isAMD
            case .haswell: !cpu.isAMD
            default: true
            }
        }.filter { $0.missingFeatures(on: cpu) == nil }
    }
}
