import ArgumentParser
import TNTModel

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run the model on a float32 .npy batch [B,3,H,W] and write the logits [B,classes]."
    )

    @Option(help: "tnt_small, tnt_base, or a JSON config file.") var arch: String
    @Option(help: "Weights in safetensors with PaddleClas parameter names.") var weights: String
    @Option(help: "Input batch, float32 little-endian C-order .npy, shape [B,3,H,W].") var input: String
    @Option(help: "Where to write the logits .npy, shape [B,classes].") var output: String
    @Option(help: "Where to write the features .npy (class token after the final norm), shape [B,embed_dim].")
    var features: String?
    @Option(help: "Threads for the forward pass.") var threads = 1

    func run() throws {
        let config = try TNTConfig.resolve(arch)
        try selectKernels(configs: [config])
        let model = try TNTWeights(config: config, path: weights)
        let batch = try NPYArray(contentsOf: input)
        let expected = [config.inChans, config.imgSize, config.imgSize]
        guard batch.shape.count == 4, Array(batch.shape.dropFirst()) == expected, batch.shape[0] > 0 else {
            throw ValidationError("input shape \(batch.shape) is not [B,\(expected.map(String.init).joined(separator: ","))]")
        }
        let engine = TNTEngine(weights: model, maxBatch: batch.shape[0], threads: threads)
        let result = engine.run(input: batch.values)
        try NPYArray(shape: [batch.shape[0], config.classNum], values: result.logits).write(to: output)
        if let features {
            try NPYArray(shape: [batch.shape[0], config.embedDim], values: result.features).write(to: features)
        }
    }
}
