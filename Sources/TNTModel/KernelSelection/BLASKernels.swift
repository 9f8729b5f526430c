import CKernelSupport
import Foundation
import Synchronization

/// Which OpenBLAS kernel family runs, how it was picked and what the self-check found.
public struct KernelSelection: Sendable {
    public enum Source: String, Sendable {
        /// Picked by this program from the CPU's features (`OPENBLAS_CORETYPE` unset).
        case chosen
        /// Named by the user in `OPENBLAS_CORETYPE`.
        case named
        /// This OpenBLAS is not a DYNAMIC_ARCH build: it has one family, which runs.
        case fixed
    }

    /// The family OpenBLAS runs now, as `openblas_get_corename()` says.
    public var family: String
    public var source: Source
    /// `passed (N products)`.
    public var check: String
    /// Families that failed the self-check before `family` was settled on, with the reason.
    public var rejected: [(family: String, reason: String)] = []
    public var cpu: CPUFeatures
    /// What computes the large products, and why (`self-check: passed (N products)` when the
    /// tiles run).
    public var largeProducts = LargeProducts.openBLAS
    public var largeProductsNote = ""
    /// Why the AVX-512 tiles failed their self-check, when they did and OpenBLAS took over.
    public var largeProductsRejection: String?

    /// One line for logs and benchmark headers.
    public var summary: String {
        var line = "OpenBLAS kernels: \(family) (\(source.rawValue)); self-check: \(check)"
        for r in rejected { line += "; \(r.family) failed its self-check (\(r.reason)), fell back" }
        line += "; large products: \(largeProducts.rawValue) (\(largeProductsNote))"
        return line + "; CPU: \(cpu.summary)"
    }
}

public enum KernelSelectionError: Error, CustomStringConvertible {
    case namedFamilyUnknown(named: String, runs: String)
    case namedFamilyUnsupported(named: String, missing: [String])
    case namedFamilyFailedCheck(named: String, reason: String)
    case everyFamilyFailedCheck([(family: String, reason: String)])
    case selectedFamilyFailedCheck(family: String, reason: String)
    case namedLargeProductsUnusable(named: String, reason: String)
    case selectedLargeProductsFailedCheck(reason: String)

    public var description: String {
        switch self {
        case .namedFamilyUnknown(let named, let runs):
            "OPENBLAS_CORETYPE=\(named) is not a kernel family this OpenBLAS knows (it would run \(runs)); "
                + "unset it to let the program choose, or name one of \(KernelFamily.allCases.map(\.rawValue).joined(separator: ", "))"
        case .namedFamilyUnsupported(let named, let missing):
            "OPENBLAS_CORETYPE=\(named) needs \(missing.joined(separator: ", ")), which this CPU lacks; "
                + "unset it to let the program choose"
        case .namedFamilyFailedCheck(let named, let reason):
            "OPENBLAS_CORETYPE=\(named) computes wrong results on this machine (\(reason)); "
                + "refusing to serve wrong answers: unset it or name another family"
        case .everyFamilyFailedCheck(let failures):
            "no OpenBLAS kernel family passed the self-check: "
                + failures.map { "\($0.family): \($0.reason)" }.joined(separator: "; ")
        case .selectedFamilyFailedCheck(let family, let reason):
            "the OpenBLAS kernel family this process runs, \(family), computes wrong results on a new model's "
                + "products (\(reason)); restart the process to select the kernels again"
        case .namedLargeProductsUnusable(let named, let reason):
            "\(LargeProducts.environmentKey)=\(named) cannot run here (\(reason)); "
                + "unset it to let the program choose, or name \(LargeProducts.openBLAS.rawValue)"
        case .selectedLargeProductsFailedCheck(let reason):
            "the AVX-512 tiles this process runs compute wrong results on a new model's products (\(reason)); "
                + "restart the process to select the kernels again"
        }
    }
}

/// Picks OpenBLAS's kernel family for this CPU and checks it before any real work.
///
/// Debian's OpenBLAS 0.3.21 chooses its kernels when the library loads, from a CPU table
/// that predates Sapphire Rapids and Zen 4: on such CPUs it falls back to SSE3 (`Prescott`),
/// several times slower. This program reads cpuid itself and, unless the user named a family
/// in `OPENBLAS_CORETYPE`, switches the already loaded library to the best family the CPU
/// runs (OpenBLAS's own `gotoblas_dynamic_init`, exported by DYNAMIC_ARCH builds). No
/// re-exec and no environment needed before `main`, so it works the same from a shell, a
/// container entrypoint and a test process.
///
/// Switching swaps OpenBLAS's kernel table, and a product running meanwhile on another thread
/// reads a null table and crashes. So every product the forward pass makes first passes
/// `ensureSelected()` (an atomic load once settled), and the family only ever switches during
/// the first selection, under the lock, before any product has run.
public enum BLASKernels {
    private static let lock = NSLock()
    /// The one selection of this process, or why it failed (never retried: retrying switches).
    nonisolated(unsafe) private static var outcome: Result<KernelSelection, any Error>?
    /// Set once `outcome` is, so that the products' gate costs a load, not a lock.
    private static let settled = Atomic<Bool>(false)

    /// The process's kernels, checked on `configs`' products.
    ///
    /// The family is one setting for the whole process, and switching it under a running
    /// product would crash it (OpenBLAS swaps its kernel table), so it is selected once: by the
    /// first call of this or of `ensureSelected()` (every `TNTEngine` makes that call before it
    /// computes). That first selection falls back down `KernelFamily.ladder` while a chosen
    /// family fails its self-check; later calls only check their `configs` on the family
    /// selected, or throw the first selection's error again.
    /// - Throws: `KernelSelectionError` when a named family is unknown, unsupported or wrong,
    ///   when no family passes, or when the family selected earlier fails on `configs`.
    public static func selectAndCheck(
        configs: [TNTConfig], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KernelSelection {
        try lock.withLock {
            guard let outcome else {
                let first = Result { try select(configs: configs, environment: environment) }
                outcome = first
                settled.store(true, ordering: .releasing)
                return try first.get()
            }
            let selected = try outcome.get()
            let check = KernelSelfCheck(configs: configs, faultyFamily: environment["TNT_KERNEL_CHECK_FAULT"])
            if let reason = check.run(family: selected.family) {
                throw KernelSelectionError.selectedFamilyFailedCheck(family: selected.family, reason: reason)
            }
            if selected.largeProducts == .avx512Tiles, let reason = check.runAVX512Tiles() {
                throw KernelSelectionError.selectedLargeProductsFailedCheck(reason: reason)
            }
            return selected
        }
    }

    /// Selects the kernels, checked on the preset architectures, unless this process has
    /// already tried. Called before every product this program computes.
    @inline(__always) public static func ensureSelected() {
        if settled.load(ordering: .acquiring) { return }
        lock.withLock {
            if outcome == nil {
                outcome = Result { try select(configs: [.tntSmall, .tntBase], environment: ProcessInfo.processInfo.environment) }
                settled.store(true, ordering: .releasing)
            }
        }
    }

    private static func select(configs: [TNTConfig], environment: [String: String]) throws -> KernelSelection {
        let check = KernelSelfCheck(configs: configs, faultyFamily: environment["TNT_KERNEL_CHECK_FAULT"])
        var selection = try selectFamily(check: check, environment: environment)
        (selection.largeProducts, selection.largeProductsNote, selection.largeProductsRejection) = try selectLargeProducts(
            family: selection.family, cpu: selection.cpu, check: check, named: environment[LargeProducts.environmentKey])
        LargeProducts.current = selection.largeProducts
        return selection
    }

    /// The AVX-512 tiles when the CPU has AVX-512F, the OpenBLAS family running is an AVX-512
    /// one (a user who names Haswell gets AVX2 everywhere) and the tiles pass the self-check;
    /// OpenBLAS otherwise. `TNT_LARGE_PRODUCTS` names either; a named one that cannot run stops.
    private static func selectLargeProducts(
        family: String, cpu: CPUFeatures, check: KernelSelfCheck, named: String?
    ) throws -> (LargeProducts, note: String, rejection: String?) {
        let key = LargeProducts.environmentKey
        let namedChoice = named.flatMap { $0.isEmpty ? nil : $0 }
        if let namedChoice {
            guard let choice = LargeProducts(rawValue: namedChoice.lowercased()) else {
                throw KernelSelectionError.namedLargeProductsUnusable(named: namedChoice, reason: "unknown; the choices are tnt-avx512 and openblas")
            }
            if choice == .openBLAS { return (.openBLAS, "named in \(key)", nil) }
        }
        guard cpu.avx512f else {
            if let namedChoice { throw KernelSelectionError.namedLargeProductsUnusable(named: namedChoice, reason: "the CPU lacks avx512f") }
            return (.openBLAS, "the CPU lacks AVX-512", nil)
        }
        if namedChoice == nil && KernelFamily(name: family)?.isAVX512 != true { return (.openBLAS, "OpenBLAS runs \(family), not an AVX-512 family", nil) }
        if let reason = check.runAVX512Tiles() {
            if let namedChoice { throw KernelSelectionError.namedLargeProductsUnusable(named: namedChoice, reason: reason) }
            return (.openBLAS, "tnt-avx512 failed its self-check (\(reason)), fell back", reason)
        }
        let checked = "self-check: passed (\(check.shapes.count) products)"
        return (.avx512Tiles, namedChoice == nil ? checked : "named in \(key); " + checked, nil)
    }

    private static func selectFamily(check: KernelSelfCheck, environment: [String: String]) throws -> KernelSelection {
        let cpu = CPUFeatures.current
        let checked = "passed (\(check.shapes.count) products)"

        if let named = environment["OPENBLAS_CORETYPE"], !named.isEmpty {
            // OpenBLAS honoured it when it loaded; make sure it understood and it is right.
            let runs = BLASThreads.coreName
            guard runs.lowercased() == named.lowercased() else { throw KernelSelectionError.namedFamilyUnknown(named: named, runs: runs) }
            if let missing = KernelFamily(name: named)?.missingFeatures(on: cpu) {
                throw KernelSelectionError.namedFamilyUnsupported(named: named, missing: missing)
            }
            if let reason = check.run(family: runs) {
                throw KernelSelectionError.namedFamilyFailedCheck(named: named, reason: reason)
            }
            return KernelSelection(family: runs, source: .named, check: checked, cpu: cpu)
        }

        var rejected: [(family: String, reason: String)] = []
        for family in KernelFamily.ladder(for: cpu) {
            guard tnt_openblas_switch_family(family.rawValue) else {
                // Not DYNAMIC_ARCH: the one family the library has must be right.
                let runs = BLASThreads.coreName
                if let reason = check.run(family: runs) {
                    throw KernelSelectionError.everyFamilyFailedCheck([(runs, reason)])
                }
                return KernelSelection(family: runs, source: .fixed, check: checked, cpu: cpu)
            }
            let runs = BLASThreads.coreName
            if let reason = check.run(family: runs) {
                rejected.append((runs, reason))
                continue
            }
            return KernelSelection(family: runs, source: .chosen, check: checked, rejected: rejected, cpu: cpu)
        }
        throw KernelSelectionError.everyFamilyFailedCheck(rejected)
    }
}
