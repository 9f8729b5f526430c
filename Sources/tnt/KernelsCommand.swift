import ArgumentParser
import Foundation
import TNTModel

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "The OpenBLAS kernel family this CPU gets, what computes the large products, and their self-checks.",
        discussion: """
            Without OPENBLAS_CORETYPE the program chooses the best family the CPU runs; with it, the \
            named family runs if it passes the same check. On a CPU with AVX-512, when OpenBLAS runs an \
            AVX-512 family, the large products run on TNTServe's own AVX-512 tiles if they pass the same \
            check (TNT_LARGE_PRODUCTS=openblas leaves them to OpenBLAS). tnt-server and every tnt \
            command that computes make this choice first.
            """
    )

    @Option(help: "Architectures whose products are checked: tnt_small, tnt_base or JSON files, comma-separated.")
    var arch = "tnt_small,tnt_base"
    @Flag(help: "Print JSON: {\"family\", \"source\", \"check\", \"rejected\", \"ladder\", \"cpu\", \"large_products\", \"large_products_note\"}.")
    var json = false

    func run() throws {
        let configs = try arch.split(separator: ",").map { try TNTConfig.resolve(String($0)) }
        let selection = try selectKernels(configs: configs)
        let ladder = KernelFamily.ladder(for: selection.cpu).map(\.rawValue)
        if json {
            let object: [String: Any] = [
                "family": selection.family, "source": selection.source.rawValue, "check": selection.check,
                "rejected": selection.rejected.map { ["family": $0.family, "reason": $0.reason] },
                "ladder": ladder, "cpu": selection.cpu.summary,
                "large_products": selection.largeProducts.rawValue, "large_products_note": selection.largeProductsNote,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(selection.summary)
            print("families this CPU runs, best first: \(ladder.joined(separator: ", "))")
        }
    }
}

/// Picks and checks OpenBLAS's kernels for `configs`, as every computing command does first.
/// A named family that is wrong for this machine ends the command with the reason.
@discardableResult
func selectKernels(configs: [TNTConfig]) throws -> KernelSelection {
    do {
        let selection = try BLASKernels.selectAndCheck(configs: configs)
        reportFallback(selection)
        return selection
    } catch let error as KernelSelectionError {
        throw CommandFailure(error.description)
    }
}

/// Tells the user on standard error when kernels failed their self-check and others run.
func reportFallback(_ selection: KernelSelection) {
    if !selection.rejected.isEmpty || selection.largeProductsRejection != nil { FileHandle.standardError.write(Data((selection.summary + "\n").utf8)) }
}

/// An error that ends a command with its message and no usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
