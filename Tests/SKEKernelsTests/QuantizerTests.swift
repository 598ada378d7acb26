// Weight quantizers vs llama.cpp's own (Fixtures/quantize, made by tools/reference/make_quantizer_fixtures.py):
// the error on the same data must be no worse than llama.cpp's, and where we port ggml's algorithm
// exactly the bytes are identical.
import Foundation
import Testing
@testable import SKEKernels
import SKECore

@Suite("Weight quantizers vs llama.cpp")
struct QuantizerTests {
    struct Index: Decodable {
        struct Entry: Decodable { let bytes: Int; let rmse_normal: Double; let rmse_student_t: Double; let rmse_smollm2_embd: Double }
        let rows: Int; let k: Int; let types: [String: Entry]
    }
    static func file(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/quantize/" + name, withExtension: nil))
        return try Data(contentsOf: url)
    }

    @Test("RMSE no worse than llama.cpp's, bytes identical", arguments: ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"])
    func quantizer(_ name: String) throws {
        let index = try JSONDecoder().decode(Index.self, from: Self.file("index.json"))
        let entry = try #require(index.types[name])
        let type = try #require(GGMLType(name: name))
        let input = try Self.file("input.f32.bin").withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let theirs = [UInt8](try Self.file("\(name).bin"))
        let kern = try #require(QuantTraits.kernels(type, level: .reference))
        let k = index.k, rowBytes = type.byteCount(elements: k)!
        var ours = [UInt8](repeating: 0, count: rowBytes * index.rows)
        input.withUnsafeBufferPointer { x in ours.withUnsafeMutableBytes { o in
            for r in 0..<index.rows { kern.quantize(x.baseAddress! + r * k, o.baseAddress! + r * rowBytes, k) }
        } }
        var back = [Float](repeating: 0, count: input.count)
        ours.withUnsafeBytes { b in back.withUnsafeMutableBufferPointer { kern.dequantize(b.baseAddress!, $0.baseAddress!, input.count) } }
        let groups = [("normal", entry.rmse_normal), ("student-t", entry.rmse_student_t), ("smollm2", entry.rmse_smollm2_embd)]
        for (g, (label, llama)) in groups.enumerated() {
            let lo = g * 8 * k, hi = lo + 8 * k
            var se = 0.0
            for i in lo..<hi { let d = Double(back[i]) - Double(input[i]); se += d * d }
            let rmse = (se / Double(hi - lo)).squareRoot()
            #expect(rmse <= llama * (1 + 1e-6) + 1e-12, "\(name) \(label): ours \(rmse) vs llama.cpp \(llama)")
        }
        let blockBytes = type.blockBytes
        let differing = stride(from: 0, to: ours.count, by: blockBytes).filter { ours[$0..<($0 + blockBytes)] != theirs[$0..<($0 + blockBytes)] }.count
        #expect(differing == 0, "\(name): \(differing) of \(ours.count / blockBytes) blocks differ from llama.cpp's")
    }
}
