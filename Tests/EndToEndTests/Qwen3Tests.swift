// The Qwen3-0.6B-shaped random model (scripts/make-qwen3.sh): ske's Q4_K_M of it is byte-identical to
// llama-quantize's (the file shared/reference used), and its first-position logits match HF float32 (float
// activations) and llama.cpp (quantized). Random weights: logits are nearly flat, so no greedy text is compared.
import Foundation
import Testing
import SKECore
import SKEFormats
import SKEGraph
import SKEModels
import SKERuntime

extension E2E {
    static let qwen3F16 = modelsDir.appendingPathComponent("qwen3-0.6b-shaped-random-F16.gguf").path
    static let qwen3 = modelsDir.appendingPathComponent("qwen3-0.6b-shaped-RANDOM-Q4_K_M.gguf").path
    static var qwen3Enabled: Bool { ProcessInfo.processInfo.environment["SKE_REQUIRE_MODELS"] == "1" || FileManager.default.fileExists(atPath: qwen3F16) }
}

@Suite("Qwen3-shaped model", .serialized, .enabled(if: E2E.qwen3Enabled, "run scripts/make-qwen3.sh"))
struct Qwen3Tests {
    /// ske quantize F16 → Q4_K_M gives llama-quantize's file byte for byte (the reference's sha256).
    @Test func quantizeIsByteIdenticalToLlamaQuantize() throws {
        let tmp = E2E.qwen3 + ".tmp"
        try ModelQuantizer.quantize(try ModelFile.open(E2E.qwen3F16), to: tmp, target: "Q4_K_M")
        let file = try MappedFile(path: tmp)
        let hash = SHA256.hex(file.bytes)
        #expect(hash == "0d877a3681737a8a568a5f9f702b3d6fe74e071ae96e2d5d4d1b1974aa7ddafb")
        _ = try? FileManager.default.removeItem(atPath: E2E.qwen3)
        try FileManager.default.moveItem(atPath: tmp, toPath: E2E.qwen3)
    }

    /// Its Q4_K weights (FFN gate/up, attention output, Q and K; some FFN down) are repacked at the first decode step,
    /// its Q6_K weights copied in file order.
    @Test(arguments: [ActivationPrecision.quantized, .mixed])
    func repackedWeights(precision: ActivationPrecision) throws {
        let ref = try JSONDecoder().decode(GenerationRef.self, from: E2E.fixture("qwen3.llamacpp.json")).cases[0]
        try E2E.checkRepacked(E2E.qwen3, precision, prompt: ref.prompt_ids, next: (0..<20).map { Int32(1000 + 7919 * $0 % 150_000) })
        var o = EngineOptions()
        o.contextLength = 64; o.batchSize = 64; o.precision = precision
        let e = try Engine(path: E2E.qwen3, options: o)
        _ = try e.logits(after: ref.prompt_ids); _ = try e.logits(after: [1])
        // Attention output, gate/up and Q and K everywhere, down where Q4_K_M left it in Q4_K (V is Q6_K: read as it is).
        let expected = E2E.repackableBytes(e.file, layers: 28)
        #expect(e.executor.repacked?.bytes == expected && expected > 28 * (1_179_648 + 2 * 1_769_472 + 1_179_648 + 589_824))
        // The rest (V, the Q6_K FFN down, the output matrix) in file order onto huge pages: every Q6_K tensor.
        #expect(e.executor.repacked?.copiedBytes == E2E.fileOrderCopyBytes(e.file))
        #expect(E2E.fileOrderCopyBytes(e.file) == e.file.tensors.filter { $0.type == .q6_K }.reduce(0) { $0 + $1.byteCount })
    }

    @Test func firstLogits() throws {
        let ref = try JSONDecoder().decode(GenerationRef.self, from: E2E.fixture("qwen3.llamacpp.json")).cases[0]
        for precision in [ActivationPrecision.float, .quantized] {
            var o = EngineOptions()
            o.contextLength = 64; o.batchSize = 64; o.precision = precision
            let e = try Engine(path: E2E.qwen3, options: o)
            let logits = try e.logits(after: ref.prompt_ids)
            if precision == .float {
                let hf = try E2E.floats("qwen3.p0.hf_f32_logits_first.f32.bin")
                let d = E2E.maxAbs(logits, hf)
                print("qwen3 float activations: first logits max |Δ| vs float32 reference = \(d)")
                #expect(d <= 1e-3)
            } else {
                let llama = try E2E.floats("qwen3.p0.logits_first.f32.bin")
                let d = E2E.maxAbs(logits, llama)
                // The fast kernels' orders are not llama.cpp's: held to its cross-ISA spread, as in ModelTests; the
                // README's 1e-2 is LlamaCppReplica's (ReplicaTests, 7e-7).
                print("qwen3 quantized activations (fast kernels): first logits max |Δ| vs llama.cpp = \(d)")
                E2E.expectWithinLlamaSpread("qwen3", logits, llama)
            }
        }
    }
}
