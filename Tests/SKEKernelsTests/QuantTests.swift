// Quant kernels against the independent reference (llama.cpp / gguf-py data in Fixtures/dequant) and
// every fast path against the reference path.
import Foundation
import Testing
@testable import SKEKernels
import SKECore

let fixtureTypes = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]

@Suite("Quant formats vs llama.cpp / gguf-py")
struct QuantReferenceTests {
    @Test("dequantization is bit-identical to gguf-py", arguments: fixtureTypes)
    func dequantize(_ name: String) throws {
        let type = try #require(GGMLType(name: name))
        let info = try Fixture.info(name)
        let blocks = try Fixture.bytes("\(name).blocks.bin"), expected = try Fixture.floats("\(name).dequant.f32.bin")
        let k = info.ne0_row_length
        #expect(type.byteCount(elements: k) == info.row_bytes)
        var out = [Float](repeating: .nan, count: k * info.n_rows)
        let kern = try #require(QuantTraits.kernels(type, level: .reference))
        blocks.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<info.n_rows { kern.dequantize(b.baseAddress! + r * info.row_bytes, o.baseAddress! + r * k, k) }
            }
        }
        let mismatches = zip(out, expected).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(mismatches == 0, "\(mismatches) of \(out.count) values differ")
    }

    @Test("activation quantization is byte-identical to ggml's", arguments: fixtureTypes)
    func activationBytes(_ name: String) throws {
        let type = try #require(GGMLType(name: name))
        let info = try Fixture.info(name)
        let act = try Fixture.floats("\(name).act.f32.bin")
        let expected = try Fixture.bytes("\(name).act_q_\(info.vec_dot_type).bin")
        let kern = try #require(QuantTraits.kernels(type))
        let actKern = try #require(QuantTraits.kernels(kern.activation, level: .reference))
        #expect(actKern.type.name.lowercased() == info.vec_dot_type.lowercased())
        var out = [UInt8](repeating: 0xEE, count: expected.count)
        act.withUnsafeBufferPointer { a in out.withUnsafeMutableBytes { actKern.quantize(a.baseAddress!, $0.baseAddress!, act.count) } }
        #expect(out == expected)
        // The runtime's activation quantizer (ggml-cpu's x86 arithmetic) gives the same bytes on these vectors.
        var runtime = [UInt8](repeating: 0xEE, count: expected.count)
        let quantize = Matmul.activationQuantizer(kern.activation)
        act.withUnsafeBufferPointer { a in runtime.withUnsafeMutableBytes { quantize(a.baseAddress!, $0.baseAddress!, act.count) } }
        #expect(runtime == expected)
    }

    /// Where ggml-cpu's activation quantizer (id = 127/amax, round half to even) and the weight quantizer
    /// (id = 1/d, round half away from zero) part: a value landing exactly on .5 after scaling.
    @Test func activationQuantizerRoundsHalfToEven() {
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127      // amax: id = 1
        x[1] = 2.5      // a tie: ggml-cpu rounds to 2, roundf to 3
        x[2] = -3.5     // → -4 both ways
        var act = [UInt8](repeating: 0, count: 34), weight = act
        act.withUnsafeMutableBytes { QuantReference.quantizeActivationQ8_0(x, $0.baseAddress!, 32) }
        weight.withUnsafeMutableBytes { QuantReference.quantizeQ8_0(x, $0.baseAddress!, 32) }
        #expect(Int8(bitPattern: act[3]) == 2 && Int8(bitPattern: weight[3]) == 3)
        #expect(Int8(bitPattern: act[4]) == -4 && Int8(bitPattern: weight[4]) == -4)
        #expect(Int8(bitPattern: act[2]) == 127)
    }

    @Test("dot products match ggml's formula within 1e-6·Σ|w·x|, on every ISA path", arguments: fixtureTypes)
    func dots(_ name: String) throws {
        let type = try #require(GGMLType(name: name))
        let info = try Fixture.info(name)
        let blocks = try Fixture.bytes("\(name).blocks.bin")
        let actQ = try Fixture.bytes("\(name).act_q_\(info.vec_dot_type).bin")
        for level in isaLevels {
            let kern = try #require(QuantTraits.kernels(type, level: level))
            for d in info.dots {
                let got = blocks.withUnsafeBytes { b in actQ.withUnsafeBytes { a in
                    kern.dot(b.baseAddress! + d.row * info.row_bytes, a.baseAddress!, info.ne0_row_length)
                } }
                let err = abs(Double(got) - d.dot_dequant_w_x_dequant_qact_f64)
                #expect(err <= 1e-6 * d.sum_abs_products_f64, "\(name) row \(d.row) \(level) (\(kern.dotISA)): \(got) vs \(d.dot_dequant_w_x_dequant_qact_f64)")
            }
        }
    }
}

@Suite("Fast paths equal the reference")
struct FastPathTests {
    static let cases: [(GGMLType, Int)] = QuantTraits.weightTypes.flatMap { t in
        [1, 6, 7, 8, 31, 257].map { blocks in (t, blocks * (t.blockSize == 1 ? 32 : t.blockSize) + (t.blockSize == 1 ? 3 : 0)) }
    }

    @Test("dot: every ISA path vs reference on random rows of odd lengths", arguments: cases)
    func dot(_ c: (GGMLType, Int)) throws {
        let (type, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 1000 + UInt64(k))
        let (_, w) = randomRow(type, k: k, rng: &rng)
        let ref = try #require(QuantTraits.kernels(type, level: .reference))
        let x = (0..<k).map { _ in rng.normal() }
        let actType = ref.activation
        var a = [UInt8](repeating: 0, count: actType.byteCount(elements: k)!)
        let actKern = try #require(QuantTraits.kernels(actType, level: .reference))
        x.withUnsafeBufferPointer { xp in a.withUnsafeMutableBytes { actKern.quantize(xp.baseAddress!, $0.baseAddress!, k) } }
        // Σ|w·a| from the dequantized operands: the scale of the tolerance.
        var wf = [Float](repeating: 0, count: k), af = [Float](repeating: 0, count: k)
        w.withUnsafeBytes { b in wf.withUnsafeMutableBufferPointer { ref.dequantize(b.baseAddress!, $0.baseAddress!, k) } }
        a.withUnsafeBytes { b in af.withUnsafeMutableBufferPointer { actKern.dequantize(b.baseAddress!, $0.baseAddress!, k) } }
        let scale = zip(wf, af).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
        let expected = w.withUnsafeBytes { wb in a.withUnsafeBytes { ab in ref.dot(wb.baseAddress!, ab.baseAddress!, k) } }
        for level in isaLevels {
            let kern = try #require(QuantTraits.kernels(type, level: level))
            let got = w.withUnsafeBytes { wb in a.withUnsafeBytes { ab in kern.dot(wb.baseAddress!, ab.baseAddress!, k) } }
            #expect(abs(Double(got) - Double(expected)) <= 1e-6 * scale + 1e-30, "\(type.name) k=\(k) \(level) (\(kern.dotISA)): \(got) vs \(expected)")
            if let prep = kern.prepared {
                // The prepared path: the same blocks followed by the sidecar.
                var row = [UInt8](repeating: 0, count: kern.activationRowStride(k: k)!)
                row.replaceSubrange(0..<a.count, with: a)
                row.withUnsafeMutableBytes { r in prep.prepare(r.baseAddress!, k, r.baseAddress! + prep.sidecarOffset(a.count)) }
                let got2 = w.withUnsafeBytes { wb in row.withUnsafeBytes { rb in prep.dot(wb.baseAddress!, rb.baseAddress!, k) } }
                #expect(abs(Double(got2) - Double(expected)) <= 1e-6 * scale + 1e-30, "\(type.name) k=\(k) \(level) prepared: \(got2) vs \(expected)")
            }
        }
    }

    @Test("dequantize: every ISA path is bit-identical to the reference (quantized rows and raw random bytes)", arguments: cases)
    func dequantizeFast(_ c: (GGMLType, Int)) throws {
        let (type, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 7919 + UInt64(k))
        let quantized = randomRow(type, k: k, rng: &rng).bytes
        let raw = (0..<quantized.count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let ref = try #require(QuantTraits.kernels(type, level: .reference))
        func run(_ kern: QuantKernels, _ bytes: [UInt8]) -> [Float] {
            var out = [Float](repeating: .nan, count: k)
            bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { kern.dequantize(b.baseAddress!, $0.baseAddress!, k) } }
            return out
        }
        for bytes in [quantized, raw] {
            let expected = run(ref, bytes)
            for level in isaLevels {
                let got = run(try #require(QuantTraits.kernels(type, level: level)), bytes)
                let bad = zip(got, expected).filter { $0.bitPattern != $1.bitPattern && !($0.isNaN && $1.isNaN) }.count
                #expect(bad == 0, "\(type.name) k=\(k) \(level): \(bad) values differ")
            }
        }
    }

    @Test("four-token dots (prefill) equal the one-token dot bit for bit", arguments: cases)
    func dot4(_ c: (GGMLType, Int)) throws {
        let (type, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 104_729 + UInt64(k))
        let w = randomRow(type, k: k, rng: &rng).bytes
        var tested = 0
        for level in isaLevels {
            let kern = try #require(QuantTraits.kernels(type, level: level))
            guard let dot4 = kern.rowDot4 else { continue }
            tested += 1
            // Six activation rows laid out as gemm lays them out (blocks + sidecar), the four-token kernel run from
            // row 1 (an unaligned group) with an output stride of 3.
            let stride = kern.activationRowStride(k: k)!
            var rows = [UInt8](repeating: 0, count: 6 * stride)
            for t in 0..<6 {
                let x = (0..<k).map { _ in rng.normal() * Float(t + 1) }
                x.withUnsafeBufferPointer { xp in rows.withUnsafeMutableBytes { Matmul.activationRowWriter(kern, k: k)(xp.baseAddress!, $0.baseAddress! + t * stride) } }
            }
            var out = [Float](repeating: .nan, count: 12)
            w.withUnsafeBytes { wb in rows.withUnsafeBytes { rb in out.withUnsafeMutableBufferPointer { o in
                dot4.call(wb.baseAddress!, rb.baseAddress! + stride, stride, k, o.baseAddress!, 3)
            } } }
            for i in 0..<4 {
                let one = w.withUnsafeBytes { wb in rows.withUnsafeBytes { rb in kern.rowDot(wb.baseAddress!, rb.baseAddress! + (1 + i) * stride, k) } }
                #expect(out[3 * i].bitPattern == one.bitPattern, "\(type.name) k=\(k) \(level) token \(i): \(out[3 * i]) vs \(one)")
            }
        }
        if [.q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K].contains(type) { #expect(tested > 0 || !isaLevels.contains(.avx512), "\(type.name) has a four-token kernel on AVX-512") }
    }

    @Test("four-row dots (decode) equal the one-row dot bit for bit", arguments: cases)
    func dot4Rows(_ c: (GGMLType, Int)) throws {
        let (type, k) = c
        var rng = SeededRandom(seed: UInt64(type.rawValue) * 15_485_863 + UInt64(k))
        // Five weight rows; the four-row kernel runs from row 1 (rows are rowBytes apart, not 64-byte aligned).
        let rows = (0..<5).map { _ in randomRow(type, k: k, rng: &rng).bytes }
        let rowBytes = rows[0].count, w = rows.flatMap { $0 }
        var tested = 0
        for level in isaLevels {
            let kern = try #require(QuantTraits.kernels(type, level: level))
            guard let dot4 = kern.rowDot4Rows else { continue }
            tested += 1
            let stride = kern.activationRowStride(k: k)!
            var act = [UInt8](repeating: 0, count: stride)
            let x = (0..<k).map { _ in rng.normal() }
            x.withUnsafeBufferPointer { xp in act.withUnsafeMutableBytes { Matmul.activationRowWriter(kern, k: k)(xp.baseAddress!, $0.baseAddress!) } }
            var out = [Float](repeating: .nan, count: 4)
            w.withUnsafeBytes { wb in act.withUnsafeBytes { ab in out.withUnsafeMutableBufferPointer { o in
                dot4.call(wb.baseAddress! + rowBytes, rowBytes, ab.baseAddress!, k, o.baseAddress!)
            } } }
            for i in 0..<4 {
                let one = w.withUnsafeBytes { wb in act.withUnsafeBytes { ab in kern.rowDot(wb.baseAddress! + (1 + i) * rowBytes, ab.baseAddress!, k) } }
                #expect(out[i].bitPattern == one.bitPattern, "\(type.name) k=\(k) \(level) row \(i): \(out[i]) vs \(one)")
            }
        }
        if [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K].contains(type) {
            #expect(tested > 0 || !isaLevels.contains(.avx512), "\(type.name) has a four-row kernel on AVX-512")
        }
    }

    @Test("fast activation quantizers write the reference's bytes (random rows, zero blocks, ties of the largest magnitude)",
          arguments: [GGMLType.q8_0, .q8_1, .q8_K])
    func activationQuantizers(_ format: GGMLType) throws {
        var rng = SeededRandom(seed: 0xAC7 &+ UInt64(format.rawValue))
        let k = 256 * 7
        var rows: [[Float]] = []
        for scale in [Float(1), 1e-3, 300] { rows.append((0..<k).map { _ in rng.normal() * scale }) }
        // A zero block, a block whose largest magnitude appears as −m before +m, values on rounding ties.
        var special = (0..<k).map { _ in rng.normal() }
        for j in 0..<256 { special[j] = 0 }
        special[300] = -4; special[301] = 4; special[700] = 4; special[701] = -4
        for j in 1024..<1280 { special[j] = Float(j % 9) - 4 }
        rows.append(special)
        let reference = Matmul.activationQuantizer(format)
        let bytes = format.byteCount(elements: k)!
        var tested = 0
        for level in isaLevels {
            for type in QuantTraits.weightTypes {
                guard let kern = QuantTraits.kernels(type, level: level), kern.activation == format, let fast = kern.fastActivationQuantizer else { continue }
                tested += 1
                for (i, x) in rows.enumerated() {
                    var want = [UInt8](repeating: 0xEE, count: bytes), got = [UInt8](repeating: 0x11, count: bytes)
                    x.withUnsafeBufferPointer { xp in
                        want.withUnsafeMutableBytes { reference(xp.baseAddress!, $0.baseAddress!, k) }
                        got.withUnsafeMutableBytes { fast.call(xp.baseAddress!, $0.baseAddress!, k) }
                    }
                    #expect(got == want, "\(format.name) row \(i) via \(type.name) at \(level)")
                }
                break
            }
        }
        #expect(tested > 0 || !isaLevels.contains(.avx512), "\(format.name) has a fast quantizer on AVX-512")
    }

    @Test("the AVX2 and AVX-512 tables accelerate the hot types")
    func coverage() {
        for level in isaLevels where level != .reference {
            for t in QuantTraits.weightTypes {
                #expect(QuantTraits.kernels(t, level: level)?.dotISA == level, "\(t.name) at \(level)")
            }
        }
    }
}
