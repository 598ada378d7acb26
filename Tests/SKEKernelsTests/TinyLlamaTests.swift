// The kernels composed by hand into the tiny Llama of Fixtures/training (PyTorch float32), llm.c-style:
// step-0 logits, loss, every parameter's gradient, and the first AdamW step, in Float — the engine's path.
// (The IR/autodiff in SKEGraph will build this same computation; this test pins the kernels first.)
import Foundation
import Testing
@testable import SKEKernels
import SKECore

@Suite("Tiny Llama vs PyTorch")
struct TinyLlamaTests {
    static let V = 256, C = 64, L = 2, NH = 4, NKV = 2, HS = 16, FFN = 172, T = 32, B = 4, N = 128
    static let eps: Float = 1e-5
    static let rope = RopeParameters(base: 10000, dims: 16, layout: .neox)  // HF rotate_half = NEOX pairs
    static let attn = AttentionParameters(heads: 4, kvHeads: 2, headSize: 16)

    static func load(_ path: String) throws -> [Float] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/training/" + path, withExtension: nil))
        return try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    static let names: [String] = ["tok_embeddings.weight"] + (0..<2).flatMap { l in
        ["attention_norm.weight", "attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "attention.wo.weight",
         "ffn_norm.weight", "feed_forward.w_gate.weight", "feed_forward.w_up.weight", "feed_forward.w_down.weight"].map { "layers.\(l).\($0)" }
    } + ["norm.weight", "output.weight"]

    /// Activations saved by the forward pass for the backward pass.
    struct Layer {
        var x = [Float](), ln1 = [Float](), rstd1 = [Float](), q = [Float](), k = [Float](), v = [Float](), qr = [Float](), kr = [Float]()
        var att = [Float](), attOut = [Float](), x1 = [Float](), ln2 = [Float](), rstd2 = [Float](), g = [Float](), u = [Float](), h = [Float]()
    }

    static func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }

    @Test("logits, loss, all gradients and one AdamW step match PyTorch")
    func stepZero() throws {
        let (V, C, NH, NKV, HS, FFN, T, B, N) = (Self.V, Self.C, Self.NH, Self.NKV, Self.HS, Self.FFN, Self.T, Self.B, Self.N)
        var p: [String: [Float]] = [:]
        for n in Self.names { p[n] = try Self.load("init/\(n).bin") }
        let tokens = try #require(Bundle.module.url(forResource: "Fixtures/training/runA_tokens.u32.bin", withExtension: nil))
        let all = try Data(contentsOf: tokens).withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        var inputs = [Int32](), targets = [Int32]()
        for b in 0..<B { for t in 0..<T { inputs.append(Int32(all[b * 33 + t])); targets.append(Int32(all[b * 33 + t + 1])) } }
        let positions = (0..<N).map { Int32($0 % T) }

        // Forward.
        var x = Self.zeros(N * C)
        p["tok_embeddings.weight"]!.withUnsafeBytes { Embedding.forward(table: $0.baseAddress!, type: .f32, vocab: V, cols: C, ids: inputs, count: N, y: &x) }
        var saved: [Layer] = []
        for l in 0..<Self.L {
            func w(_ n: String) -> [Float] { p["layers.\(l).\(n)"]! }
            var s = Layer()
            s.x = x
            s.ln1 = Self.zeros(N * C); s.rstd1 = Self.zeros(N)
            Norm.rmsNormForward(x: x, weight: w("attention_norm.weight"), y: &s.ln1, rstd: &s.rstd1, rows: N, cols: C, eps: Self.eps)
            s.q = Self.zeros(N * NH * HS); s.k = Self.zeros(N * NKV * HS); s.v = Self.zeros(N * NKV * HS)
            LinearF32.forward(x: s.ln1, w: w("attention.wq.weight"), bias: nil, y: &s.q, rows: N, inputs: C, outputs: NH * HS)
            LinearF32.forward(x: s.ln1, w: w("attention.wk.weight"), bias: nil, y: &s.k, rows: N, inputs: C, outputs: NKV * HS)
            LinearF32.forward(x: s.ln1, w: w("attention.wv.weight"), bias: nil, y: &s.v, rows: N, inputs: C, outputs: NKV * HS)
            s.qr = s.q; s.kr = s.k
            Rope.forward(x: s.q, y: &s.qr, tokens: N, heads: NH, headSize: HS, positions: positions, Self.rope)
            Rope.forward(x: s.k, y: &s.kr, tokens: N, heads: NKV, headSize: HS, positions: positions, Self.rope)
            s.attOut = Self.zeros(N * NH * HS); s.att = Self.zeros(B * NH * T * T)
            Attention.forward(q: s.qr, k: s.kr, v: s.v, out: &s.attOut, att: &s.att, batch: B, tokens: T, Self.attn)
            var o = Self.zeros(N * C)
            LinearF32.forward(x: s.attOut, w: w("attention.wo.weight"), bias: nil, y: &o, rows: N, inputs: NH * HS, outputs: C)
            s.x1 = Self.zeros(N * C)
            Residual.forward(x, o, scale: 1, &s.x1, count: N * C)
            s.ln2 = Self.zeros(N * C); s.rstd2 = Self.zeros(N)
            Norm.rmsNormForward(x: s.x1, weight: w("ffn_norm.weight"), y: &s.ln2, rstd: &s.rstd2, rows: N, cols: C, eps: Self.eps)
            s.g = Self.zeros(N * FFN); s.u = Self.zeros(N * FFN); s.h = Self.zeros(N * FFN)
            LinearF32.forward(x: s.ln2, w: w("feed_forward.w_gate.weight"), bias: nil, y: &s.g, rows: N, inputs: C, outputs: FFN)
            LinearF32.forward(x: s.ln2, w: w("feed_forward.w_up.weight"), bias: nil, y: &s.u, rows: N, inputs: C, outputs: FFN)
            Activation.gluForward(gate: s.g, up: s.u, &s.h, count: N * FFN, gelu: false)
            var d = Self.zeros(N * C)
            LinearF32.forward(x: s.h, w: w("feed_forward.w_down.weight"), bias: nil, y: &d, rows: N, inputs: FFN, outputs: C)
            Residual.forward(s.x1, d, scale: 1, &x, count: N * C)
            saved.append(s)
        }
        var lnf = Self.zeros(N * C), rstdf = Self.zeros(N)
        Norm.rmsNormForward(x: x, weight: p["norm.weight"]!, y: &lnf, rstd: &rstdf, rows: N, cols: C, eps: Self.eps)
        var logits = Self.zeros(N * V)
        LinearF32.forward(x: lnf, w: p["output.weight"]!, bias: nil, y: &logits, rows: N, inputs: C, outputs: V)
        var losses = Self.zeros(N), lse = Self.zeros(N)
        CrossEntropy.forward(logits: logits, targets: targets, losses: &losses, lse: &lse, rows: N, vocab: V)
        let loss = losses.reduce(0, +) / Float(N)

        let refLogits = try Self.load("runA_logits_step0_batch.f32.bin")
        let maxLogitErr = zip(logits, refLogits).map { abs($0 - $1) }.max()!
        #expect(maxLogitErr <= 1e-4, "max |Δlogit| = \(maxLogitErr)")
        #expect(abs(loss - 5.929690361022949) / 5.929690361022949 <= 1e-5, "loss \(loss)")

        // Backward (gradients accumulate into zeroed buffers).
        var grad: [String: [Float]] = [:]
        for n in Self.names { grad[n] = Self.zeros(p[n]!.count) }
        let dlosses = [Float](repeating: 1 / Float(N), count: N)
        var dlogits = Self.zeros(N * V)
        CrossEntropy.backward(dlosses: dlosses, logits: logits, targets: targets, lse: lse, dlogits: &dlogits, rows: N, vocab: V)
        var dlnf = Self.zeros(N * C)
        LinearF32.backward(dy: dlogits, x: lnf, w: p["output.weight"]!, dx: &dlnf, dw: &grad["output.weight"]!, dbias: nil, rows: N, inputs: C, outputs: V)
        var dx = Self.zeros(N * C)
        Norm.rmsNormBackward(dy: dlnf, x: x, weight: p["norm.weight"]!, rstd: rstdf, dx: &dx, dw: &grad["norm.weight"]!, rows: N, cols: C)
        for l in (0..<Self.L).reversed() {
            let s = saved[l]
            func w(_ n: String) -> [Float] { p["layers.\(l).\(n)"]! }
            let gk = { (n: String) in "layers.\(l).\(n)" }
            // x_out = x1 + down(h): dx flows to x1 and to the MLP.
            var dx1 = dx
            var dh = Self.zeros(N * FFN)
            LinearF32.backward(dy: dx, x: s.h, w: w("feed_forward.w_down.weight"), dx: &dh, dw: &grad[gk("feed_forward.w_down.weight")]!, dbias: nil, rows: N, inputs: FFN, outputs: C)
            var dg = Self.zeros(N * FFN), du = Self.zeros(N * FFN)
            Activation.gluBackward(dy: dh, gate: s.g, up: s.u, dGate: &dg, dUp: &du, count: N * FFN, gelu: false)
            var dln2 = Self.zeros(N * C)
            LinearF32.backward(dy: dg, x: s.ln2, w: w("feed_forward.w_gate.weight"), dx: &dln2, dw: &grad[gk("feed_forward.w_gate.weight")]!, dbias: nil, rows: N, inputs: C, outputs: FFN)
            LinearF32.backward(dy: du, x: s.ln2, w: w("feed_forward.w_up.weight"), dx: &dln2, dw: &grad[gk("feed_forward.w_up.weight")]!, dbias: nil, rows: N, inputs: C, outputs: FFN)
            Norm.rmsNormBackward(dy: dln2, x: s.x1, weight: w("ffn_norm.weight"), rstd: s.rstd2, dx: &dx1, dw: &grad[gk("ffn_norm.weight")]!, rows: N, cols: C)
            // x1 = x + wo(attn): dx1 flows to x and to the attention block.
            var dxIn = dx1
            var dAttOut = Self.zeros(N * NH * HS)
            LinearF32.backward(dy: dx1, x: s.attOut, w: w("attention.wo.weight"), dx: &dAttOut, dw: &grad[gk("attention.wo.weight")]!, dbias: nil, rows: N, inputs: NH * HS, outputs: C)
            var dqr = Self.zeros(N * NH * HS), dkr = Self.zeros(N * NKV * HS), dv = Self.zeros(N * NKV * HS), row = Self.zeros(T)
            Attention.backward(dout: dAttOut, q: s.qr, k: s.kr, v: s.v, att: s.att, dq: &dqr, dk: &dkr, dv: &dv, scratch: &row, batch: B, tokens: T, Self.attn)
            var dq = Self.zeros(N * NH * HS), dk = Self.zeros(N * NKV * HS), scratch = Self.zeros(N * NH * HS)
            Rope.backward(dy: dqr, dx: &dq, scratch: &scratch, tokens: N, heads: NH, headSize: HS, positions: positions, Self.rope)
            Rope.backward(dy: dkr, dx: &dk, scratch: &scratch, tokens: N, heads: NKV, headSize: HS, positions: positions, Self.rope)
            var dln1 = Self.zeros(N * C)
            LinearF32.backward(dy: dq, x: s.ln1, w: w("attention.wq.weight"), dx: &dln1, dw: &grad[gk("attention.wq.weight")]!, dbias: nil, rows: N, inputs: C, outputs: NH * HS)
            LinearF32.backward(dy: dk, x: s.ln1, w: w("attention.wk.weight"), dx: &dln1, dw: &grad[gk("attention.wk.weight")]!, dbias: nil, rows: N, inputs: C, outputs: NKV * HS)
            LinearF32.backward(dy: dv, x: s.ln1, w: w("attention.wv.weight"), dx: &dln1, dw: &grad[gk("attention.wv.weight")]!, dbias: nil, rows: N, inputs: C, outputs: NKV * HS)
            Norm.rmsNormBackward(dy: dln1, x: s.x, weight: w("attention_norm.weight"), rstd: s.rstd1, dx: &dxIn, dw: &grad[gk("attention_norm.weight")]!, rows: N, cols: C)
            dx = dxIn
        }
        Embedding.backward(dy: dx, ids: inputs, count: N, cols: C, dTable: &grad["tok_embeddings.weight"]!, vocab: V)

        for n in Self.names {
            let ref = try Self.load("runA_grads_step0/\(n).bin")
            let scale = ref.map(abs).max()!
            let worst = zip(grad[n]!, ref).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-5 * scale, "\(n): max |Δg| \(worst) vs 1e-5·max|g| = \(1e-5 * scale)")
        }

        // One AdamW step (wd 0.1 on 2-D weights, 0 on the RMSNorm gains).
        var within = 0, total = 0, worstAll: Float = 0
        for n in Self.names {
            var w = p[n]!, m = Self.zeros(w.count), v = Self.zeros(w.count)
            let wd: Float = n.hasSuffix("norm.weight") ? 0 : 0.1
            AdamW.update(params: &w, grads: grad[n]!, m: &m, v: &v, count: w.count, step: 1,
                         AdamWParameters(lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: wd))
            let ref = try Self.load("runA_after_step1/\(n).bin")
            for (a, b) in zip(w, ref) {
                let d = abs(a - b)
                total += 1
                if d <= 1e-5 { within += 1 }
                worstAll = max(worstAll, d)
            }
        }
        #expect(Double(within) >= 0.999 * Double(total), "\(within)/\(total) weights within 1e-5")
        #expect(worstAll <= 2e-4, "worst weight difference \(worstAll)")
    }
}
