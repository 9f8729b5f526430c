import Foundation
import TNTImage
import TNTInference
import TNTModel
import TNTProtocol

/// A loaded (or failed) model.
public final class LoadedModel: @unchecked Sendable {
    public let name: String
    public let info: ModelInfo
    public let weights: TNTWeights?
    public let labels: [String]
    public let preprocess: PreprocessConfig
    /// What the files looked like when loaded (see `ModelRepository.fingerprint`).
    let fingerprint: String

    init(name: String, info: ModelInfo, weights: TNTWeights?, labels: [String], preprocess: PreprocessConfig, fingerprint: String) {
        self.name = name
        self.info = info
        self.weights = weights
        self.labels = labels
        self.preprocess = preprocess
        self.fingerprint = fingerprint
    }

    public var isReady: Bool { info.state == .ready }

    /// Loads `directory/model.json` (`ModelFolder`, the loader `TNTClassifier` uses too); any
    /// failure becomes a FAILED entry with its reason.
    static func load(name: String, directory: String) -> LoadedModel {
        let fingerprint = ModelRepository.fingerprint(directory)
        do {
            let folder = try ModelFolder(directory: directory)
            let config = folder.config
            let info = ModelInfo(name: name, architecture: folder.architecture, inputShape: [config.inChans, config.imgSize, config.imgSize],
                                 classes: config.classNum, parameters: folder.weights.parameterCount,
                                 weightsSHA256: folder.weights.file.sha256(), state: .ready, hasLabels: !folder.labels.isEmpty)
            return LoadedModel(name: name, info: info, weights: folder.weights, labels: folder.labels, preprocess: folder.preprocess, fingerprint: fingerprint)
        } catch {
            let info = ModelInfo(name: name, architecture: "", inputShape: [], classes: 0, parameters: 0,
                                 weightsSHA256: "", state: .failed, stateReason: reason(error, directory: directory, name: name))
            return LoadedModel(name: name, info: info, weights: nil, labels: [], preprocess: PreprocessConfig(), fingerprint: fingerprint)
        }
    }
}

/// A load failure as callers see it: paths relative to the repository (`name/file`), never
/// where the server's files live.
private func reason(_ error: Error, directory: String, name: String) -> String {
    var text = "\(error)"
    for prefix in [URL(fileURLWithPath: directory).standardizedFileURL.path, directory] {
        text = text.replacingOccurrences(of: prefix + "/", with: name + "/").replacingOccurrences(of: prefix, with: name)
    }
    return text
}

/// Every model under a directory, one subdirectory each, loaded at start.
public final class ModelRepository: Sendable {
    public let models: [String: LoadedModel]
    /// The model a call with no model name gets: the only one, or the first ready one by name.
    public let defaultModel: String?

    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RPCError(.notFound, "model repository '\(directory)' is not a directory")
        }
        let names = Self.modelNames(in: directory)
        var models: [String: LoadedModel] = [:]
        for name in names { models[name] = LoadedModel.load(name: name, directory: directory + "/" + name) }
        self.models = models
        defaultModel = names.first { models[$0]!.isReady }
    }

    public var infos: [ModelInfo] { models.keys.sorted().map { models[$0]!.info } }

    /// The subdirectories holding a model.json.
    public static func modelNames(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            FileManager.default.fileExists(atPath: directory + "/" + $0 + "/model.json")
        }.sorted()
    }

    /// Identity of a model's files: every file's name, size, modification time and inode.
    /// Replacing a file (by rename, as it must be: the weights are memory-mapped) changes it.
    static func fingerprint(_ directory: String) -> String {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return files.map { name -> String in
            var st = stat()
            guard stat(directory + "/" + name, &st) == 0 else { return name }
            return "\(name):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ino)"
        }.joined(separator: "|")
    }
}
