// Hyperparameters read from GGUF metadata (`<arch>.*` keys, as llama.cpp names them), and the registry of
// architectures keyed by `general.architecture`. Each architecture lives in its own file and builds the IR of
// one forward step with the GraphBuilder API.
import SKECore
import SKEFormats
import SKEGraph
import SKEKernels

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String, supported: [String])
    case missingMetadata(String)
    case invalidMetadata(key: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a, let s):
            "unsupported architecture '\(a)': ske runs \(s.joined(separator: ", "))"
        case .missingMetadata(let k): "the model's metadata has no '\(k)', which its architecture needs"
        case .invalidMetadata(let k, let r): "metadata '\(k)' is unusable: \(r)"
        }
    }
}

public struct ModelConfig: Sendable, Equatable {
    public var architecture: String
    public var layers: Int
    public var embedding: Int
    public var heads: Int, kvHeads: Int
    public var headSize: Int
    public var feedForward: Int
    public var eps: Float
    public var ropeBase: Double
    public var ropeFreqScale: Double
    public var ropeDims: Int
    public var contextLength: Int
    public var vocabulary: Int
    public var slidingWindow: Int

    /// Reads the keys every decoder-only architecture here shares.
    public init(metadata md: GGUFMetadata, vocabulary: Int) throws {
        guard let arch = md.string("general.architecture") else { throw ModelError.missingMetadata("general.architecture") }
        func int(_ k: String) throws -> Int {
            guard let v = md.int("\(arch).\(k)") else { throw ModelError.missingMetadata("\(arch).\(k)") }
            guard v > 0 && v < 1 << 24 else { throw ModelError.invalidMetadata(key: "\(arch).\(k)", reason: "\(v) is out of range") }
            return v
        }
        architecture = arch
        layers = try int("block_count")
        embedding = try int("embedding_length")
        heads = try int("attention.head_count")
        kvHeads = md.int("\(arch).attention.head_count_kv") ?? heads
        headSize = md.int("\(arch).attention.key_length") ?? embedding / heads
        feedForward = try int("feed_forward_length")
        guard let e = md.double("\(arch).attention.layer_norm_rms_epsilon") else { throw ModelError.missingMetadata("\(arch).attention.layer_norm_rms_epsilon") }
        eps = Float(e)
        ropeBase = md.double("\(arch).rope.freq_base") ?? 10_000
        ropeDims = md.int("\(arch).rope.dimension_count") ?? headSize
        contextLength = md.int("\(arch).context_length") ?? 2048
        self.vocabulary = vocabulary
        slidingWindow = md.int("\(arch).attention.sliding_window") ?? 0
        ropeFreqScale = 1
        if let kind = md.string("\(arch).rope.scaling.type"), kind != "none" {
            guard kind == "linear", let f = md.double("\(arch).rope.scaling.factor"), f > 0 else {
                throw ModelError.invalidMetadata(key: "\(arch).rope.scaling.type", reason: "rope scaling '\(kind)' is not supported (linear only)")
            }
            ropeFreqScale = 1 / f
        }
        guard heads % kvHeads == 0 else { throw ModelError.invalidMetadata(key: "\(arch).attention.head_count_kv", reason: "\(heads) heads are not a multiple of \(kvHeads)") }
        guard ropeDims <= headSize, ropeDims % 2 == 0 else { throw ModelError.invalidMetadata(key: "\(arch).rope.dimension_count", reason: "must be even and ≤ head size \(headSize)") }
    }
}

/// One architecture: builds a forward-step graph from its config.
public protocol Architecture: Sendable {
    static var name: String { get }
    static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int
}

public enum ModelRegistry {
    public static let architectures: [String: any Architecture.Type] = [
        Llama.name: Llama.self, Qwen2.name: Qwen2.self, Qwen3.name: Qwen3.self, Gemma3.name: Gemma3.self,
    ]
    public static var supported: [String] { architectures.keys.sorted() }

    /// Config for `file` (vocabulary size from the token list or the embedding table).
    public static func config(of file: TensorFile) throws -> ModelConfig {
        let md = file.metadata
        let arch = md.string("general.architecture") ?? "(none)"
        guard architectures[arch] != nil else { throw ModelError.unsupportedArchitecture(arch, supported: supported) }
        let vocab = md.arrayCount("tokenizer.ggml.tokens") ?? file.tensor(named: "token_embd.weight")?.dims.last ?? 0
        return try ModelConfig(metadata: md, vocabulary: vocab)
    }

    /// The training forward graph (batch × sequence rows → mean cross-entropy) of an architecture, for weights
    /// described by `weights` (GGUF names). `ropeLayout` overrides the architecture's (HF-layout weights use .neox).
    public static func trainingGraph(_ c: ModelConfig, batch: Int, sequence: Int, ropeLayout: RopeLayout? = nil,
                                     weights: @escaping (String) -> WeightInfo?) throws -> Graph {
        guard let arch = architectures[c.architecture] else { throw ModelError.unsupportedArchitecture(c.architecture, supported: supported) }
        let b = GraphBuilder(limits: GraphLimits(maxTokens: batch * sequence, maxOutputs: 1, contextLength: sequence), weights: weights)
        b.trainingSequence = sequence
        b.ropeLayoutOverride = ropeLayout
        return try b.finish(logits: try arch.build(c, b))
    }

    /// The unfused forward graph of `file`'s model.
    public static func graph(for file: TensorFile, limits: GraphLimits) throws -> Graph {
        let c = try config(of: file)
        let b = GraphBuilder(limits: limits) { name in
            file.tensor(named: name).map { WeightInfo(type: $0.type, dims: $0.dims) }
        }
        let logits = try architectures[c.architecture]!.build(c, b)
        return try b.finish(logits: logits)
    }
}

/// The pieces the decoder architectures share.
enum Decoder {
    /// The Llama-family stack (Llama, Qwen2, Qwen3): pre-norm blocks, GQA attention with RoPE in `layout`,
    /// optional QK-norm before RoPE, SwiGLU, residual adds. Q/K/V biases are applied when the file has them.
    static func standard(_ c: ModelConfig, _ b: GraphBuilder, layout: RopeLayout, qkNorm: Bool) throws -> Int {
        let rope = RopeParameters(base: c.ropeBase, freqScale: c.ropeFreqScale, dims: c.ropeDims, layout: b.ropeLayoutOverride ?? layout)
        let attn = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headSize: c.headSize)
        let hs = c.headSize
        var x = b.embedding(try b.weight("token_embd.weight"), b.tokens())
        for l in 0..<c.layers {
            let h = b.rmsNorm(x, try b.weight("blk.\(l).attn_norm.weight"), eps: c.eps)
            var (q, k, v) = try qkv(b, h, layer: l)
            if qkNorm {
                q = b.headNorm(q, try b.weight("blk.\(l).attn_q_norm.weight"), eps: c.eps, headSize: hs)
                k = b.headNorm(k, try b.weight("blk.\(l).attn_k_norm.weight"), eps: c.eps, headSize: hs)
            }
            let a = attend(b, q: b.rope(q, rope, headSize: hs), k: b.rope(k, rope, headSize: hs), v: v, layer: l, attn)
            x = b.add(x, b.matmul(a, try b.weight("blk.\(l).attn_output.weight")))
            let h2 = b.rmsNorm(x, try b.weight("blk.\(l).ffn_norm.weight"), eps: c.eps)
            x = b.add(x, try feedForward(b, h2, layer: l, gelu: false))
        }
        return try head(c, b, x)
    }

    /// LM head: the rows asked for, final norm, output projection (tied to the embedding when absent).
    static func head(_ c: ModelConfig, _ b: GraphBuilder, _ x: Int) throws -> Int {
        if b.trainingSequence != nil {
            // Training: every row's logits against its next-token target, mean cross-entropy.
            let n = b.rmsNorm(x, try b.weight("output_norm.weight"), eps: c.eps)
            let w = b.hasWeight("output.weight") ? try b.weight("output.weight") : try b.weight("token_embd.weight")
            return b.crossEntropy(b.matmul(n, w), b.targets())
        }
        let rows = b.outputRows(x)
        let n = b.rmsNorm(rows, try b.weight("output_norm.weight"), eps: c.eps)
        let w = b.hasWeight("output.weight") ? try b.weight("output.weight") : try b.weight("token_embd.weight")
        return b.matmul(n, w)
    }

    /// SwiGLU / GeGLU feed-forward on the normalized input h.
    static func feedForward(_ b: GraphBuilder, _ h: Int, layer l: Int, gelu: Bool) throws -> Int {
        let g = b.matmul(h, try b.weight("blk.\(l).ffn_gate.weight"))
        let u = b.matmul(h, try b.weight("blk.\(l).ffn_up.weight"))
        return b.matmul(b.glu(g, u, gelu: gelu), try b.weight("blk.\(l).ffn_down.weight"))
    }

    /// Q, K, V projections (+ bias when the model has one).
    static func qkv(_ b: GraphBuilder, _ h: Int, layer l: Int) throws -> (Int, Int, Int) {
        func proj(_ n: String) throws -> Int {
            let y = b.matmul(h, try b.weight("blk.\(l).attn_\(n).weight"))
            return b.hasWeight("blk.\(l).attn_\(n).bias") ? b.addBias(y, try b.weight("blk.\(l).attn_\(n).bias")) : y
        }
        return (try proj("q"), try proj("k"), try proj("v"))
    }

    /// Writes K (already rotated) and V into the cache and attends.
    static func attend(_ b: GraphBuilder, q: Int, k: Int, v: Int, layer l: Int, _ p: AttentionParameters) -> Int {
        if let s = b.trainingSequence { return b.causalAttention(q, k, v, p, sequence: s) }
        return b.attention(q, b.kvWrite(k, layer: l, value: false), b.kvWrite(v, layer: l, value: true), layer: l, p)
    }
}
