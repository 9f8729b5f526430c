import ArgumentParser

@main
struct TNTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tnt",
        abstract: "TNTServe's command line: run and measure TNT image classifiers.",
        subcommands: [ForwardCommand.self, PreprocessCommand.self, ClassifyCommand.self, EvalCommand.self, FinetuneCommand.self, KernelsCommand.self, PredictCommand.self, HealthCommand.self, ReadyCommand.self, ModelsCommand.self, BenchCommand.self]
    )
}

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures beside a reference measured in the same run.",
        subcommands: [BenchModelCommand.self, BenchPreprocessCommand.self, BenchRPCCommand.self]
    )
}

/// Parses "1,8" into [1, 8].
func parseList(_ text: String, name: String) throws -> [Int] {
    let values = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 > 0 }), values.count == text.split(separator: ",").count else {
        throw ValidationError("--\(name) takes positive integers separated by commas, got '\(text)'")
    }
    return values
}
