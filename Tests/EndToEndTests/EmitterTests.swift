// The emitter: `Emitted/TinyLlamaPlan.swift` is what `Emitter.swift` (behind `ske compile --emit swift`) writes for the
// tiny model below, batch 8, context 32 (its weights are random, its shapes and types fixed, so the source is too).
// The test target compiles it; its Plan must give the executed Plan's logits exactly. If the emitter or the
// lowering changes, the first test fails and prints how to regenerate the file.
import Foundation
import Testing
import SKECore
import SKEFormats
import SKEGraph
import SKEKernels
import SKEModels
import SKERuntime

enum TinyGGUF {
    /// A 2-layer llama with mixed weight types (so one fused linear reads several activation formats).
    static func write(to path: String) throws {
        let (V, C, L, NH, NKV, HS, F) = (64, 64, 2, 4, 2, 16, 96)
        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        for (k, v) in [("block_count", L), ("embedding_length", C), ("attention.head_count", NH), ("attention.head_count_kv", NKV),
                       ("feed_forward_length", F), ("context_length", 128), ("vocab_size", V)] {
            md["llama.\(k)"] = .uint32(UInt32(v))
        }
        md["llama.attention.layer_norm_rms_epsilon"] = .float32(1e-5)
        md["llama.rope.freq_base"] = .float32(10_000)
        var w = GGUFWriter(metadata: md)
        var rng = SplitMix64(seed: 42)
        func add(_ name: String, _ type: GGMLType, _ k: Int, _ n: Int = 1, norm: Bool = false) throws {
            let x = (0..<(k * n)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * (norm ? 0.2 : 0.5) + (norm ? 1 : 0) }
            var bytes = [UInt8](repeating: 0, count: type.byteCount(elements: k)! * n)
            let q = try #require(QuantTraits.kernels(type, level: .reference))
            bytes.withUnsafeMutableBytes { b in
                x.withUnsafeBufferPointer { xp in
                    for r in 0..<n { q.quantize(xp.baseAddress! + r * k, b.baseAddress! + r * type.byteCount(elements: k)!, k) }
                }
            }
            try w.addTensor(name: name, type: type, dims: n == 1 ? [k] : [k, n], data: .bytes(bytes))
        }
        try add("token_embd.weight", .q8_0, C, V)
        for l in 0..<L {
            let p = "blk.\(l)."
            try add(p + "attn_norm.weight", .f32, C, norm: true)
            try add(p + "attn_q.weight", .q4_0, C, NH * HS)
            try add(p + "attn_k.weight", .q4_1, C, NKV * HS)
            try add(p + "attn_v.weight", .q8_0, C, NKV * HS)
            try add(p + "attn_output.weight", .q5_0, NH * HS, C)
            try add(p + "ffn_norm.weight", .f32, C, norm: true)
            try add(p + "ffn_gate.weight", .q5_1, C, F)
            try add(p + "ffn_up.weight", .q8_0, C, F)
            try add(p + "ffn_down.weight", .q4_0, F, C)
        }
        try add("output_norm.weight", .f32, C, norm: true)
        try add("output.weight", .f16, C, V)
        try w.write(to: path)
    }
}

@Suite("Emitter", .serialized)
struct EmitterTests {
    static let emittedFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Emitted/TinyLlamaPlan.swift")

    static func lowered() throws -> (any TensorFile, Plan) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ske-tiny-emitter.gguf").path
        try TinyGGUF.write(to: path)
        let file = try ModelFile.open(path)
        let g = try ModelRegistry.graph(for: file, limits: GraphLimits(maxTokens: 8, maxOutputs: 1, contextLength: 32))
        let fusion = Fusion.patterns.map(\.name)
        let plan = try Lowering.lower(try Fusion.run(g, patterns: fusion), weights: { n in file.tensor(named: n).map { file.data(for: $0).baseAddress! } },
                                      precision: .quantized, fusion: fusion)
        return (file, plan)
    }

    @Test func committedSourceIsCurrent() throws {
        let (_, plan) = try Self.lowered()
        let emitted = Emitter.swift(plan, typeName: "TinyLlamaPlan",
                                    header: ["ske-tiny-emitter.gguf: \(plan.steps.count) steps, batch 8, context 32 (Tests/EndToEndTests/EmitterTests.swift writes the model)."])
        let committed = (try? String(contentsOf: Self.emittedFile, encoding: .utf8)) ?? ""
        if emitted != committed, ProcessInfo.processInfo.environment["SKE_UPDATE_EMITTED"] == "1" {
            try emitted.write(to: Self.emittedFile, atomically: true, encoding: .utf8)
        }
        #expect(emitted == committed, "the emitter's output changed: rerun with SKE_UPDATE_EMITTED=1 to rewrite \(Self.emittedFile.path), then rebuild")
    }

    /// The compiled emitted source and the lowered Plan, run by the executor over the same tokens: same logits, bit for bit.
    @Test func compiledSourceGivesTheSameLogits() throws {
        let (file, plan) = try Self.lowered()
        var builder = PlanBuilder(layout: TinyLlamaPlan.layout) { name in
            file.tensor(named: name).map { t in
                WeightRef(name: name, pointer: file.data(for: t).baseAddress!, type: t.type, rows: t.dims.count == 2 ? t.dims[1] : 1, cols: t.dims[0])
            }
        }
        try TinyLlamaPlan.build(&builder)
        let emitted = builder.plan()
        #expect(emitted.steps.count == plan.steps.count)
        func logits(_ p: Plan) throws -> [[Float]] {
            let ex = try Executor(plan: p, pool: ThreadPool(threadCount: 2))
            var out: [[Float]] = []
            let prompt: [Int32] = [1, 5, 9, 33, 2, 63, 17]
            var start = 0
            for chunk in [Array(prompt[0..<5]), Array(prompt[5...]), [40], [41]] {
                chunk.withUnsafeBufferPointer { ids in
                    [Int32(chunk.count - 1)].withUnsafeBufferPointer { rows in ex.run(ids: ids, start: start, outputRows: rows) }
                }
                start += chunk.count
                out.append(Array(ex.logits.prefix(p.vocabulary)))
            }
            return out
        }
        let a = try logits(plan), b = try logits(emitted)
        #expect(a == b)
        #expect(a.allSatisfy { $0.allSatisfy(\.isFinite) && Set($0).count > 10 })
    }
}
