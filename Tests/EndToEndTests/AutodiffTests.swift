// Autodiff through the IR: the backward graph that SKEGraph's rules build from each architecture's training
// graph gives the gradients of finite differences (Double, odd sizes, every architecture) and PyTorch's
// gradients for the tiny Llama of SKEKernelsTests/Fixtures/training (from ../shared/reference/training).
import Foundation
import Testing
import SKECore
import SKEFormats
import SKEGraph
import SKEKernels
import SKEModels

enum TinyModels {
    struct Shape { var vocab = 11, embedding = 10, layers = 2, heads = 4, kvHeads = 2, headSize = 6, ropeDims = 4, ffn = 7, window = 0 }

    static func config(_ arch: String, _ s: Shape) throws -> ModelConfig {
        var md = GGUFMetadata()
        md["general.architecture"] = .string(arch)
        func u(_ k: String, _ v: Int) { md["\(arch).\(k)"] = .uint32(UInt32(v)) }
        u("block_count", s.layers); u("embedding_length", s.embedding); u("attention.head_count", s.heads)
        u("attention.head_count_kv", s.kvHeads); u("attention.key_length", s.headSize); u("feed_forward_length", s.ffn)
        u("context_length", 64); u("rope.dimension_count", s.ropeDims)
        if s.window > 0 { u("attention.sliding_window", s.window) }
        md["\(arch).attention.layer_norm_rms_epsilon"] = .float32(1e-5)
        md["\(arch).rope.freq_base"] = .float32(10_000)
        return try ModelConfig(metadata: md, vocabulary: s.vocab)
    }

    /// Every tensor an architecture may ask for, in ggml dims ([K, N] for matrices).
    static func weightDims(_ c: ModelConfig, tied: Bool) -> [String: [Int]] {
        let (C, HS, F) = (c.embedding, c.headSize, c.feedForward)
        var d: [String: [Int]] = ["token_embd.weight": [C, c.vocabulary], "output_norm.weight": [C]]
        if !tied { d["output.weight"] = [C, c.vocabulary] }
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            d[p + "attn_norm.weight"] = [C]; d[p + "ffn_norm.weight"] = [C]
            d[p + "attn_q.weight"] = [C, c.heads * HS]; d[p + "attn_k.weight"] = [C, c.kvHeads * HS]; d[p + "attn_v.weight"] = [C, c.kvHeads * HS]
            d[p + "attn_output.weight"] = [c.heads * HS, C]
            d[p + "ffn_gate.weight"] = [C, F]; d[p + "ffn_up.weight"] = [C, F]; d[p + "ffn_down.weight"] = [F, C]
            switch c.architecture {
            case "qwen2":
                d[p + "attn_q.bias"] = [c.heads * HS]; d[p + "attn_k.bias"] = [c.kvHeads * HS]; d[p + "attn_v.bias"] = [c.kvHeads * HS]
            case "qwen3":
                d[p + "attn_q_norm.weight"] = [HS]; d[p + "attn_k_norm.weight"] = [HS]
            case "gemma3":
                d[p + "attn_q_norm.weight"] = [HS]; d[p + "attn_k_norm.weight"] = [HS]
                d[p + "post_attention_norm.weight"] = [C]; d[p + "post_ffw_norm.weight"] = [C]
            default: break
            }
        }
        return d
    }

    static func graph(_ c: ModelConfig, dims: [String: [Int]], batch: Int, sequence: Int, layout: RopeLayout? = nil) throws -> TrainingGraph {
        let g = try ModelRegistry.trainingGraph(c, batch: batch, sequence: sequence, ropeLayout: layout) { name in
            dims[name].map { WeightInfo(type: .f32, dims: $0) }
        }
        return try Autodiff.backward(g)
    }
}

@Suite("Autodiff through the IR")
struct AutodiffTests {
    /// Central differences in Double on a sample of every weight's elements, for two random draws of the weights
    /// (the seed also shuffles which weight gets which draws).
    @Test(arguments: ["llama", "qwen2", "qwen3", "gemma3"], [7, 15] as [UInt64])
    func matchesFiniteDifferences(_ arch: String, seed: UInt64) throws {
        var shape = TinyModels.Shape()
        if arch == "gemma3" { shape.window = 3; shape.layers = 6 }   // sliding layers and one global layer
        let c = try TinyModels.config(arch, shape)
        let dims = TinyModels.weightDims(c, tied: arch != "llama")
        let (batch, sequence) = (2, 5)
        let tg = try TinyModels.graph(c, dims: dims, batch: batch, sequence: sequence)
        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 }
        var weights: [String: [Double]] = [:]
        // A Dictionary's order changes from process to process: the names are sorted, then shuffled by the seed.
        var names = dims.keys.sorted()
        names.shuffle(using: &rng)
        for name in names {
            let d = dims[name]!
            let n = d.reduce(1, *)
            weights[name] = (0..<n).map { _ in name.hasSuffix("norm.weight") ? 1 + 0.3 * uniform() : 0.5 * uniform() }
        }
        let tokens = (0..<(batch * sequence)).map { _ in Int32(rng.next() % UInt64(c.vocabulary)) }
        let targets = (0..<(batch * sequence)).map { _ in Int32(rng.next() % UInt64(c.vocabulary)) }
        func loss(_ w: [String: [Double]]) throws -> Double {
            try GraphInterpreter.run(tg.graph, .init(weights: w, tokens: tokens, targets: targets))[tg.loss][0]
        }
        let values = try GraphInterpreter.run(tg.graph, .init(weights: weights, tokens: tokens, targets: targets))
        let used = Set(tg.graph.nodes.compactMap { n -> String? in if case .weight(let s) = n.op { s } else { nil } })
        #expect(Set(tg.gradients.map(\.name)) == used, "every weight gets a gradient")
        // Gemma's first layer is strongly curved (embeddings scaled by √C, then RMSNorm): with seed 15, h = 1e-5 left a
        // truncation error of 1e-4 relative on token_embd (it fell 100× per 10× smaller h: h², not a wrong gradient).
        // At 1e-6 the truncation error is 100× smaller and rounding stays below 1e-9 (loss ~2, eps 2e-16).
        let h = 1e-6
        var worst = 0.0
        for (name, node) in tg.gradients {
            let grad = values[node]
            let n = weights[name]!.count
            for i in Set((0..<6).map { _ in Int(rng.next() % UInt64(n)) }) {
                var plus = weights, minus = weights
                plus[name]![i] += h; minus[name]![i] -= h
                let fd = (try loss(plus) - loss(minus)) / (2 * h)
                let err = abs(fd - grad[i])
                worst = max(worst, err / (1e-6 + abs(fd)))
                #expect(err <= 1e-7 + 1e-5 * abs(fd), "\(arch) \(name)[\(i)]: autodiff \(grad[i]) vs finite difference \(fd)")
            }
        }
        #expect(worst < 1e-3)
    }

    /// The tiny Llama of the training reference: step-0 loss, logits and every gradient against PyTorch (float32).
    @Test func matchesPyTorch() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SKEKernelsTests/Fixtures/training")
        func load(_ p: String) throws -> [Float] {
            try Data(contentsOf: dir.appendingPathComponent(p)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let shape = TinyModels.Shape(vocab: 256, embedding: 64, layers: 2, heads: 4, kvHeads: 2, headSize: 16, ropeDims: 16, ffn: 172)
        let c = try TinyModels.config("llama", shape)
        let dims = TinyModels.weightDims(c, tied: false)
        // GGUF names → the reference's (PyTorch) names.
        func hf(_ name: String) -> String {
            let fixed = ["token_embd.weight": "tok_embeddings.weight", "output_norm.weight": "norm.weight", "output.weight": "output.weight"]
            if let f = fixed[name] { return f }
            let parts = name.split(separator: ".")
            let l = parts[1]
            let map = ["attn_norm": "attention_norm", "attn_q": "attention.wq", "attn_k": "attention.wk", "attn_v": "attention.wv",
                       "attn_output": "attention.wo", "ffn_norm": "ffn_norm", "ffn_gate": "feed_forward.w_gate",
                       "ffn_up": "feed_forward.w_up", "ffn_down": "feed_forward.w_down"]
            return "layers.\(l).\(map[String(parts[2])]!).weight"
        }
        var weights: [String: [Float]] = [:]
        for name in dims.keys { weights[name] = try load("init/\(hf(name)).bin") }
        let (batch, sequence) = (4, 32)
        let all = try Data(contentsOf: dir.appendingPathComponent("runA_tokens.u32.bin")).withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        var tokens = [Int32](), targets = [Int32]()
        for b in 0..<batch { for t in 0..<sequence { tokens.append(Int32(all[b * 33 + t])); targets.append(Int32(all[b * 33 + t + 1])) } }

        // HF Llama rotates halves (rotate_half): the NEOX layout on unpermuted weights.
        let tg = try TinyModels.graph(c, dims: dims, batch: batch, sequence: sequence, layout: .neox)
        let values = try GraphInterpreter.run(tg.graph, .init(weights: weights, tokens: tokens, targets: targets))
        let loss = values[tg.loss][0]
        #expect(abs(loss - 5.929690361022949) / 5.929690361022949 <= 1e-5, "loss \(loss)")
        let logits = values[tg.graph.nodes[tg.loss].inputs[0]]
        let refLogits = try load("runA_logits_step0_batch.f32.bin")
        #expect(zip(logits, refLogits).map { abs($0 - $1) }.max()! <= 1e-4)
        #expect(tg.gradients.count == dims.count)
        for (name, node) in tg.gradients {
            let ref = try load("runA_grads_step0/\(hf(name)).bin")
            let scale = ref.map(abs).max()!
            let worst = zip(values[node], ref).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-5 * scale, "\(name): max |Δg| \(worst) vs 1e-5·max|g| = \(1e-5 * scale)")
        }
    }

    @Test func refusesWhatItCannotDifferentiate() throws {
        let c = try TinyModels.config("llama", TinyModels.Shape())
        let dims = TinyModels.weightDims(c, tied: true)
        // An inference graph ends in logits, not a loss.
        let b = GraphBuilder(limits: GraphLimits(maxTokens: 4, maxOutputs: 1, contextLength: 8)) { dims[$0].map { WeightInfo(type: .f32, dims: $0) } }
        let inference = try b.finish(logits: try Llama.build(c, b))
        #expect(throws: GraphError.self) { try Autodiff.backward(inference) }
        // Training ops have no inference lowering.
        let training = try TinyModels.graph(c, dims: dims, batch: 1, sequence: 4)
        #expect(throws: GraphError.self) { try Lowering.lower(training.graph, weights: { _ in nil }, precision: .float, fusion: []) }
    }
}
