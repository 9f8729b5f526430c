import Foundation

/// The dimensions of a TNT network, with PaddleClas's parameter names.
///
/// `tnt_small` and `tnt_base` are PaddleClas's `TNT_small` and `TNT_base`; any other
/// configuration must satisfy the constraints of PaddleClas's `tnt.py` (see `validate()`).
public struct TNTConfig: Codable, Equatable, Sendable {
    public var imgSize = 224
    public var patchSize = 16
    public var inChans = 3
    public var embedDim: Int
    public var inDim: Int
    public var depth: Int
    public var numHeads: Int
    public var inNumHead = 4
    public var mlpRatio: Double = 4
    public var classNum = 1000
    public var firstStride = 4

    enum CodingKeys: String, CodingKey {
        case imgSize = "img_size", patchSize = "patch_size", inChans = "in_chans"
        case embedDim = "embed_dim", inDim = "in_dim", depth, numHeads = "num_heads"
        case inNumHead = "in_num_head", mlpRatio = "mlp_ratio", classNum = "class_num"
        case firstStride = "first_stride"
    }

    public init(
        imgSize: Int = 224, patchSize: Int = 16, inChans: Int = 3, embedDim: Int, inDim: Int,
        depth: Int, numHeads: Int, inNumHead: Int = 4, mlpRatio: Double = 4, classNum: Int = 1000
    ) {
        self.imgSize = imgSize
        self.patchSize = patchSize
        self.inChans = inChans
        self.embedDim = embedDim
        self.inDim = inDim
        self.depth = depth
        self.numHeads = numHeads
        self.inNumHead = inNumHead
        self.mlpRatio = mlpRatio
        self.classNum = classNum
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        imgSize = try c.decodeIfPresent(Int.self, forKey: .imgSize) ?? 224
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 16
        inChans = try c.decodeIfPresent(Int.self, forKey: .inChans) ?? 3
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        inDim = try c.decode(Int.self, forKey: .inDim)
        depth = try c.decode(Int.self, forKey: .depth)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        inNumHead = try c.decodeIfPresent(Int.self, forKey: .inNumHead) ?? 4
        mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
        classNum = try c.decodeIfPresent(Int.self, forKey: .classNum) ?? 1000
        firstStride = try c.decodeIfPresent(Int.self, forKey: .firstStride) ?? 4
    }

    /// PaddleClas `TNT_small`: 23.7 M parameters.
    public static let tntSmall = TNTConfig(embedDim: 384, inDim: 24, depth: 12, numHeads: 6)
    /// PaddleClas `TNT_base`: 65.3 M parameters.
    public static let tntBase = TNTConfig(embedDim: 640, inDim: 40, depth: 12, numHeads: 10)

    /// A preset by name (`tnt_small`, `tnt_base`), or nil.
    public static func preset(_ name: String) -> TNTConfig? {
        switch name.lowercased() {
        case "tnt_small": .tntSmall
        case "tnt_base": .tntBase
        default: nil
        }
    }

    /// A preset name, or the path of a JSON file holding the configuration fields.
    public static func resolve(_ architecture: String) throws -> TNTConfig {
        if let preset = preset(architecture) { return preset }
        guard let data = FileManager.default.contents(atPath: architecture) else {
            throw TNTConfigError.unknownArchitecture(architecture)
        }
        return try decode(json: data)
    }

    /// Decodes and validates a configuration from JSON.
    public static func decode(json: Data) throws -> TNTConfig {
        let config: TNTConfig
        do {
            config = try JSONDecoder().decode(TNTConfig.self, from: json)
        } catch {
            throw TNTConfigError.malformed("\(error)")
        }
        try config.validate()
        return config
    }

    // MARK: Derived dimensions

    /// Output pixels per patch side: ceil(patch / stride) (4 for TNT).
    public var pixelsPerSide: Int { (patchSize + firstStride - 1) / firstStride }
    /// Pixel tokens per patch (16 for TNT).
    public var numPixel: Int { pixelsPerSide * pixelsPerSide }
    /// Patches per image (196 at 224×224).
    public var numPatches: Int { (imgSize / patchSize) * (imgSize / patchSize) }
    /// Outer tokens per image: the class token and one per patch.
    public var numTokens: Int { numPatches + 1 }
    public var mlpHidden: Int { Int(Double(embedDim) * mlpRatio) }
    public var innerMlpHidden: Int { inDim * 4 }
    public var headDim: Int { embedDim / numHeads }
    public var innerHeadDim: Int { inDim / inNumHead }
    /// Input values per image (C·H·W).
    public var inputSize: Int { inChans * imgSize * imgSize }

    /// Checks what PaddleClas's `tnt.py` needs to build this network.
    public func validate() throws {
        func require(_ ok: Bool, _ why: String) throws {
            if !ok { throw TNTConfigError.invalid(why) }
        }
        for (name, value) in [("img_size", imgSize), ("patch_size", patchSize), ("in_chans", inChans),
                              ("embed_dim", embedDim), ("in_dim", inDim), ("depth", depth),
                              ("num_heads", numHeads), ("in_num_head", inNumHead), ("class_num", classNum)] {
            try require(value > 0, "\(name) must be positive, got \(value)")
        }
        try require(imgSize <= 4096, "img_size \(imgSize) is above 4096")
        try require(patchSize == 16, "patch_size must be 16 (PaddleClas's pixel_pos has patch_size rows, one per pixel token), got \(patchSize)")
        try require(firstStride == 4, "first_stride must be 4, got \(firstStride)")
        try require(imgSize % patchSize == 0, "img_size \(imgSize) is not a multiple of patch_size \(patchSize)")
        try require(inDim * numPixel == embedDim,
                    "in_dim × \(numPixel) must equal embed_dim (PaddleClas's Block applies LayerNorm(in_dim·\(numPixel)) to an embed_dim vector): \(inDim) × \(numPixel) ≠ \(embedDim)")
        try require(embedDim % numHeads == 0, "embed_dim \(embedDim) is not divisible by num_heads \(numHeads)")
        try require(inDim % inNumHead == 0, "in_dim \(inDim) is not divisible by in_num_head \(inNumHead)")
        try require(mlpRatio > 0 && mlpHidden > 0, "mlp_ratio \(mlpRatio) gives no hidden units")
    }

    /// Multiply-adds of one forward pass per image (the model's FLOPs are twice this).
    public var multiplyAdds: Int {
        let pixels = numPatches * numPixel
        let stem = pixels * inDim * inChans * 49
        let inner = pixels * inDim * (2 * inDim + inDim + inDim + 2 * innerMlpHidden)
            + numPatches * inNumHead * numPixel * numPixel * innerHeadDim * 2
        let toPatch = numPatches * numPixel * inDim * embedDim
        let outer = numTokens * embedDim * (2 * embedDim + embedDim + embedDim + 2 * mlpHidden)
            + numHeads * numTokens * numTokens * headDim * 2
        return stem + toPatch + depth * (inner + toPatch + outer) + embedDim * classNum
    }
}

/// Why a configuration cannot be used.
public enum TNTConfigError: Error, Equatable, CustomStringConvertible {
    case unknownArchitecture(String)
    case malformed(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name): "unknown architecture '\(name)': expected tnt_small, tnt_base or a JSON config file"
        case .malformed(let why): "malformed TNT config: \(why)"
        case .invalid(let why): "invalid TNT config: \(why)"
        }
    }
}
