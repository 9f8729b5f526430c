import Foundation
import TNTImage
import TNTModel

/// A model folder, as `tnt-server` serves it and `TNTClassifier` loads it: `model.json`
/// (``ModelManifest``), the weights it names, optional labels and preprocessing.
public struct ModelFolder: Sendable {
    /// The folder's last path component: the model's name in a repository.
    public let name: String
    /// `tnt_small`, `tnt_base`, or `custom` for a configuration written out in `model.json`.
    public let architecture: String
    /// The weights file, memory-mapped and checked against the architecture.
    public let weights: TNTWeights
    /// One per class, or empty when the folder has none.
    public let labels: [String]
    /// How an image becomes the model's input: `model.json`'s `preprocess`, or PaddleClas's
    /// (resize the short side to 248/224 of the input, crop, mean and std 0.5).
    public let preprocess: PreprocessConfig

    /// The network's dimensions.
    public var config: TNTConfig { weights.config }

    /// Loads `directory/model.json` and what it names.
    /// - Throws: ``ModelFolderError`` naming the file and what is wrong with it.
    public init(directory: String) throws {
        name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        let manifest: ModelManifest
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/model.json"))
            manifest = try JSONDecoder().decode(ModelManifest.self, from: data)
        } catch let error as DecodingError {
            throw ModelFolderError("\(directory)/model.json: \(error)")
        } catch {
            throw ModelFolderError("cannot read \(directory)/model.json: \(error.localizedDescription)")
        }
        let config: TNTConfig
        switch manifest.architecture {
        case .preset(let preset):
            guard let known = TNTConfig.preset(preset) else { throw TNTConfigError.unknownArchitecture(preset) }
            config = known
            architecture = preset.lowercased()
        case .custom(let custom):
            try custom.validate()
            config = custom
            architecture = "custom"
        }
        weights = try TNTWeights(config: config, path: directory + "/" + manifest.weights)
        var labels: [String] = []
        if let labelFile = manifest.labels {
            guard let text = try? String(contentsOfFile: directory + "/" + labelFile, encoding: .utf8) else {
                throw ModelFolderError("cannot read \(directory)/\(labelFile)")
            }
            labels = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
            if labels.last == "" { labels.removeLast() }
            guard labels.count == config.classNum else {
                throw ModelFolderError("\(labelFile) has \(labels.count) labels for \(config.classNum) classes")
            }
        }
        self.labels = labels
        var preprocess = manifest.preprocess ?? PreprocessConfig()
        if manifest.preprocess == nil && config.imgSize != preprocess.cropSize {
            // PaddleClas's ratio 248/224 for other input sizes.
            preprocess.cropSize = config.imgSize
            preprocess.resizeShort = (config.imgSize * 248 + 112) / 224
        }
        guard preprocess.cropSize == config.imgSize else {
            throw ModelFolderError("preprocess crop_size \(preprocess.cropSize) does not match img_size \(config.imgSize)")
        }
        self.preprocess = preprocess
    }
}

/// `model.json`: `{"architecture": "tnt_small" | "tnt_base" | {config fields}, "weights":
/// "weights.safetensors", "labels": "labels.txt", "preprocess": {...}}`.
public struct ModelManifest: Codable, Sendable {
    /// `"tnt_small"`, `"tnt_base"`, or PaddleClas's TNT arguments written out.
    public var architecture: Architecture
    /// The safetensors file, relative to the folder.
    public var weights: String
    /// A text file with one label per class, relative to the folder.
    public var labels: String?
    /// The preprocessing; PaddleClas's for TNT when absent.
    public var preprocess: PreprocessConfig?

    /// A manifest to write (``ModelFolder/write(head:classNames:to:training:)`` does).
    public init(architecture: Architecture, weights: String, labels: String? = nil, preprocess: PreprocessConfig? = nil) {
        self.architecture = architecture
        self.weights = weights
        self.labels = labels
        self.preprocess = preprocess
    }

    /// A preset's name, or a configuration written out.
    public enum Architecture: Codable, Sendable {
        case preset(String)
        case custom(TNTConfig)

        /// A JSON string is a preset's name; an object, the arguments.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let name = try? container.decode(String.self) {
                self = .preset(name)
            } else {
                self = .custom(try container.decode(TNTConfig.self))
            }
        }

        /// As it is read: a string or an object.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .preset(let name): try container.encode(name)
            case .custom(let config): try container.encode(config)
            }
        }
    }
}

/// A model folder that does not load: what is wrong, naming the file.
public struct ModelFolderError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the file.
    public let description: String
    public init(_ description: String) { self.description = description }
}
