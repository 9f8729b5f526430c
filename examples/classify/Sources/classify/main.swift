import Foundation
import TNTInference

// classify MODEL_FOLDER IMAGE...: one JSON line per image, as `tnt classify --json` reports it.
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: classify MODEL_FOLDER IMAGE...\n".utf8))
    exit(2)
}
let model = try TNTClassifier(directory: arguments[0])
for path in arguments.dropFirst() {
    let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let top = try await model.classify(image, topK: 5)
    let line: [String: Any] = ["file_name": path, "class_ids": top.classIDs, "scores": top.scores.map(Double.init), "label_names": top.labelNames]
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
}
