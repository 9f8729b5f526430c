import Foundation
import TNTModel

/// Image files with their class, for training a new head: read from a folder of class folders
/// (`FOLDER/<class name>/*.png|jpg|jpeg`, classes in name order) or from PaddleClas's list
/// format (`relative/path label` per line).
public struct LabelledImages: Sendable {
    /// One image file and its class.
    public struct Entry: Sendable, Equatable {
        /// The file, as given or joined to the list's root.
        public let path: String
        /// Its class: an index into ``LabelledImages/classNames``.
        public let label: Int

        /// An image file and its class.
        public init(path: String, label: Int) {
            self.path = path
            self.label = label
        }
    }

    /// Every image, class by class for a folder, in file order for a list.
    public var entries: [Entry]
    /// One name per class, by label.
    public var classNames: [String]

    /// Images already listed, for example one part of a ``split(heldOutFraction:seed:)``.
    public init(entries: [Entry], classNames: [String]) {
        self.entries = entries
        self.classNames = classNames
    }

    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// `folder/<class name>/*.{png,jpg,jpeg}`; class folders sorted by name, files by name.
    public init(folder: String) throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else { throw ModelFolderError("cannot read the folder '\(folder)'") }
        classNames = names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
        entries = []
        for (label, name) in classNames.enumerated() {
            let files = ((try? fm.contentsOfDirectory(atPath: folder + "/" + name)) ?? [])
                .filter { Self.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !files.isEmpty else { throw ModelFolderError("class folder '\(folder)/\(name)' holds no PNG or JPEG") }
            entries += files.map { Entry(path: folder + "/" + name + "/" + $0, label: label) }
        }
    }

    /// PaddleClas's list file: `path label` per line, paths relative to `root` (the list's own
    /// folder when nil). Class names are `names` (one per line of a label file) when given,
    /// else the label numbers.
    public init(list: String, root: String? = nil, names: [String]? = nil) throws {
        guard let text = try? String(contentsOfFile: list, encoding: .utf8) else { throw ModelFolderError("cannot read '\(list)'") }
        let base = root ?? URL(fileURLWithPath: list).deletingLastPathComponent().path
        entries = try text.split(whereSeparator: \.isNewline).enumerated().map { number, line in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let label = Int(parts.last!), label >= 0 else {
                throw ModelFolderError("\(list), line \(number + 1): not 'path label': '\(line)'")
            }
            return Entry(path: base + "/" + parts.dropLast().joined(separator: " "), label: label)
        }
        let classes = (entries.map(\.label).max() ?? -1) + 1
        if let names {
            guard names.count >= classes else { throw ModelFolderError("\(names.count) class names for labels up to \(classes - 1)") }
            classNames = names
        } else {
            classNames = (0..<classes).map(String.init)
        }
    }

    /// A stratified split: of each class, `fraction` of its images (rounded, at least one when
    /// it has two or more) go to the second part, chosen by a generator seeded with `seed`.
    public func split(heldOutFraction fraction: Double, seed: UInt64) -> (train: LabelledImages, heldOut: LabelledImages) {
        var rng = SplitMix64(seed: seed)
        var train: [Entry] = [], heldOut: [Entry] = []
        for label in classNames.indices {
            var mine = entries.filter { $0.label == label }
            mine.shuffle(using: &rng)
            let count = mine.count >= 2 ? min(mine.count - 1, max(1, Int((Double(mine.count) * fraction).rounded()))) : 0
            heldOut += mine.prefix(count)
            train += mine.dropFirst(count)
        }
        return (LabelledImages(entries: train, classNames: classNames), LabelledImages(entries: heldOut, classNames: classNames))
    }
}
