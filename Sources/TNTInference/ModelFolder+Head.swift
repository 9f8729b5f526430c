import Foundation
import TNTImage
import TNTModel

extension ModelFolder {
    /// Writes a new model folder at `directory`: this model's backbone with `head` as its
    /// classifier (weights copied whole, `head.weight` and `head.bias` replaced), `classNames`
    /// as its labels, the same preprocessing, and `training` as `training.json`. A server whose
    /// repository holds `directory` serves it after a reload.
    public func write(head: SoftmaxRegression, classNames: [String], to directory: String, training: some Encodable) throws {
        precondition(head.features == config.embedDim && head.classes == classNames.count, "the head does not fit this backbone")
        var newConfig = config
        newConfig.classNum = head.classes
        var tensors: [SafeTensorsWriter.Tensor] = []
        for (name, info) in weights.file.tensors.sorted(by: { $0.key < $1.key }) {
            switch name {
            case "head.weight":
                tensors.append(.init(name: name, shape: [head.features, head.classes], values: head.weights.map { Float($0) }))
            case "head.bias":
                tensors.append(.init(name: name, shape: [head.classes], values: head.bias.map { Float($0) }))
            default:
                let values = Array(weights.file.bytes(of: info).bindMemory(to: Float.self))
                tensors.append(.init(name: name, shape: info.shape, values: values))
            }
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Written beside, then renamed into place: a server reloading meanwhile never maps a half-written file.
        let staging = directory + "/.weights.safetensors.tmp"
        try SafeTensorsWriter.write(tensors, to: staging)
        _ = try? fm.removeItem(atPath: directory + "/weights.safetensors")
        try fm.moveItem(atPath: staging, toPath: directory + "/weights.safetensors")
        try Data(classNames.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: directory + "/labels.txt"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(training).write(to: URL(fileURLWithPath: directory + "/training.json"))
        let manifest = ModelManifest(architecture: .custom(newConfig), weights: "weights.safetensors", labels: "labels.txt", preprocess: preprocess)
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: directory + "/model.json"))
    }
}
