/// A read-only float32 tensor inside the mapped weights file. The structs holding them are
/// `@unchecked Sendable`: the mapping is read-only and lives as long as `TNTWeights.file`.
public typealias Param = UnsafePointer<Float>

/// A LayerNorm's scale and shift.
public struct NormWeights: @unchecked Sendable {
    public let weight: Param, bias: Param  // (dim), (dim)
}

/// Attention in PaddleClas's layout: `qk` and `v` without bias, `proj` with bias.
public struct AttentionWeights: @unchecked Sendable {
    public let qk: Param        // (dim, 2·dim), Paddle Linear [in, out]
    public let v: Param         // (dim, dim)
    public let proj: Param      // (dim, dim)
    public let projBias: Param  // (dim)
}

public struct MlpWeights: @unchecked Sendable {
    public let fc1: Param, fc1Bias: Param  // (dim, hidden), (hidden)
    public let fc2: Param, fc2Bias: Param  // (hidden, dim), (dim)
}

public struct BlockWeights: @unchecked Sendable {
    public let normIn: NormWeights       // (in_dim)
    public let attnIn: AttentionWeights  // dim = in_dim
    public let normMlpIn: NormWeights
    public let mlpIn: MlpWeights         // hidden = 4·in_dim
    public let norm1Proj: NormWeights    // (16·in_dim)
    public let proj: Param               // (16·in_dim, embed_dim), no bias
    public let norm2Proj: NormWeights    // (16·in_dim) == (embed_dim)
    public let normOut: NormWeights      // (embed_dim)
    public let attnOut: AttentionWeights // dim = embed_dim
    public let normMlp: NormWeights
    public let mlp: MlpWeights           // hidden = mlp_ratio·embed_dim
}

/// Every parameter of a TNT network, as pointers into one memory-mapped safetensors file
/// with PaddleClas's parameter names and Paddle's layouts.
public struct TNTWeights: @unchecked Sendable {
    public let config: TNTConfig
    public let file: SafeTensorsFile
    public let stemConv: Param      // (in_dim, in_chans, 7, 7)
    public let stemBias: Param      // (in_dim)
    public let pixelPos: Param      // (1, 16, in_dim)
    public let norm1Proj: NormWeights // (16·in_dim)
    public let proj: Param          // (16·in_dim, embed_dim)
    public let projBias: Param      // (embed_dim)
    public let norm2Proj: NormWeights // (embed_dim)
    public let clsToken: Param      // (1, 1, embed_dim)
    public let patchPos: Param      // (1, num_patches + 1, embed_dim)
    public let blocks: [BlockWeights]
    public let norm: NormWeights    // (embed_dim)
    public let head: Param          // (embed_dim, class_num)
    public let headBias: Param      // (class_num)

    /// Maps `path` and checks every tensor's name, dtype and shape against `config`.
    public init(config: TNTConfig, path: String) throws {
        try config.validate()
        let file = try SafeTensorsFile(path: path)
        let expected = Self.parameterShapes(config)
        for name in file.tensors.keys.sorted() where expected[name] == nil {
            throw WeightsError.unexpectedTensor(name: name)
        }
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) {
            guard let info = file.tensors[name] else { throw WeightsError.missingTensor(name: name, expectedShape: shape) }
            guard info.dtype == "F32" else { throw WeightsError.wrongDType(name: name, dtype: info.dtype) }
            guard info.shape == shape else { throw WeightsError.wrongShape(name: name, expected: shape, actual: info.shape) }
            let bytes = shape.reduce(4, *)
            guard info.end - info.begin == bytes else {
                throw WeightsError.wrongByteCount(name: name, expected: bytes, actual: info.end - info.begin)
            }
            guard Int(bitPattern: file.bytes(of: info).baseAddress) % 4 == 0 else {
                throw WeightsError.malformedHeader(path: path, reason: "tensor '\(name)' is not 4-byte aligned")
            }
        }
        func p(_ name: String) -> Param { file.bytes(of: file.tensors[name]!).baseAddress!.assumingMemoryBound(to: Float.self) }
        func normWeights(_ prefix: String) -> NormWeights { NormWeights(weight: p(prefix + ".weight"), bias: p(prefix + ".bias")) }
        func attention(_ prefix: String) -> AttentionWeights {
            AttentionWeights(qk: p(prefix + ".qk.weight"), v: p(prefix + ".v.weight"),
                             proj: p(prefix + ".proj.weight"), projBias: p(prefix + ".proj.bias"))
        }
        func mlp(_ prefix: String) -> MlpWeights {
            MlpWeights(fc1: p(prefix + ".fc1.weight"), fc1Bias: p(prefix + ".fc1.bias"),
                       fc2: p(prefix + ".fc2.weight"), fc2Bias: p(prefix + ".fc2.bias"))
        }
        self.config = config
        self.file = file
        stemConv = p("pixel_embed.proj.weight")
        stemBias = p("pixel_embed.proj.bias")
        pixelPos = p("pixel_pos")
        norm1Proj = normWeights("norm1_proj")
        proj = p("proj.weight")
        projBias = p("proj.bias")
        norm2Proj = normWeights("norm2_proj")
        clsToken = p("cls_token")
        patchPos = p("patch_pos")
        blocks = (0..<config.depth).map { i in
            let b = "blocks.\(i)."
            return BlockWeights(
                normIn: normWeights(b + "norm_in"), attnIn: attention(b + "attn_in"),
                normMlpIn: normWeights(b + "norm_mlp_in"), mlpIn: mlp(b + "mlp_in"),
                norm1Proj: normWeights(b + "norm1_proj"), proj: p(b + "proj.weight"), norm2Proj: normWeights(b + "norm2_proj"),
                normOut: normWeights(b + "norm_out"), attnOut: attention(b + "attn_out"),
                normMlp: normWeights(b + "norm_mlp"), mlp: mlp(b + "mlp"))
        }
        norm = normWeights("norm")
        head = p("head.weight")
        headBias = p("head.bias")
    }

    /// Number of float parameters.
    public var parameterCount: Int { Self.parameterShapes(config).values.reduce(0) { $0 + $1.reduce(1, *) } }

    /// Every parameter PaddleClas's `TNT` has for `config`, by name, with its Paddle shape.
    public static func parameterShapes(_ c: TNTConfig) -> [String: [Int]] {
        let pixelDim = c.numPixel * c.inDim
        var shapes: [String: [Int]] = [
            "pixel_embed.proj.weight": [c.inDim, c.inChans, 7, 7],
            "pixel_embed.proj.bias": [c.inDim],
            "pixel_pos": [1, c.patchSize, c.inDim],
            "norm1_proj.weight": [pixelDim], "norm1_proj.bias": [pixelDim],
            "proj.weight": [pixelDim, c.embedDim], "proj.bias": [c.embedDim],
            "norm2_proj.weight": [c.embedDim], "norm2_proj.bias": [c.embedDim],
            "cls_token": [1, 1, c.embedDim],
            "patch_pos": [1, c.numTokens, c.embedDim],
            "norm.weight": [c.embedDim], "norm.bias": [c.embedDim],
            "head.weight": [c.embedDim, c.classNum], "head.bias": [c.classNum],
        ]
        func norm(_ prefix: String, _ dim: Int) {
            shapes[prefix + ".weight"] = [dim]
            shapes[prefix + ".bias"] = [dim]
        }
        func attention(_ prefix: String, _ dim: Int) {
            shapes[prefix + ".qk.weight"] = [dim, 2 * dim]
            shapes[prefix + ".v.weight"] = [dim, dim]
            shapes[prefix + ".proj.weight"] = [dim, dim]
            shapes[prefix + ".proj.bias"] = [dim]
        }
        func mlp(_ prefix: String, _ dim: Int, _ hidden: Int) {
            shapes[prefix + ".fc1.weight"] = [dim, hidden]
            shapes[prefix + ".fc1.bias"] = [hidden]
            shapes[prefix + ".fc2.weight"] = [hidden, dim]
            shapes[prefix + ".fc2.bias"] = [dim]
        }
        for i in 0..<c.depth {
            let b = "blocks.\(i)."
            norm(b + "norm_in", c.inDim)
            attention(b + "attn_in", c.inDim)
            norm(b + "norm_mlp_in", c.inDim)
            mlp(b + "mlp_in", c.inDim, c.innerMlpHidden)
            norm(b + "norm1_proj", pixelDim)
            shapes[b + "proj.weight"] = [pixelDim, c.embedDim]
            norm(b + "norm2_proj", pixelDim)
            norm(b + "norm_out", c.embedDim)
            attention(b + "attn_out", c.embedDim)
            norm(b + "norm_mlp", c.embedDim)
            mlp(b + "mlp", c.embedDim, c.mlpHidden)
        }
        return shapes
    }
}
