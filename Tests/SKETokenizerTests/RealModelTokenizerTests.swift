// The real models' tokenizers on a 20 KB torture text: ids identical to llama-tokenize's, with and without
// special-token parsing, and decode(encode(x)) == x.
import Foundation
import Testing
@testable import SKETokenizer
import SKEFormats
import SKECore

@Suite("Real-model tokenizers vs llama.cpp", .enabled(if: Vocabs.required || Vocabs.available, "run scripts/fetch-models.sh and scripts/fetch-vocabs.sh"))
struct RealModelTokenizerTests {
    static let modelsDir = Vocabs.dir.deletingLastPathComponent()
    /// (fixture name, tokenizer source): qwen3's vocabulary is the qwen2 test vocabulary it was built from.
    static let cases: [(String, String)] = [
        ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), ("gemma3", "gemma-3-270m-q4_k_m.gguf"), ("qwen3", "vocab/ggml-vocab-qwen2.gguf"),
    ]

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)))
    }

    @Test("ids equal llama-tokenize's on the torture text", arguments: cases)
    func torture(_ c: (String, String)) throws {
        struct IDs: Decodable { let ids: [Int32] }
        struct File: Decodable { let ids: IDs; let ids_no_parse_special: IDs }
        let ref = try JSONDecoder().decode(File.self, from: Self.fixture("\(c.0).text_ids.json"))
        let text = String(decoding: try Self.fixture("text.txt"), as: UTF8.self)
        let tok = try Tokenizer(TokenizerData(metadata: GGUFFile(path: Self.modelsDir.appendingPathComponent(c.1).path).metadata))
        let got = tok.encode(text, addSpecial: true, parseSpecial: true)
        let gotPlain = tok.encode(text, addSpecial: true, parseSpecial: false)
        #expect(got.count == ref.ids.ids.count, "\(c.0): \(got.count) vs \(ref.ids.ids.count) tokens")
        if let i = (0..<min(got.count, ref.ids.ids.count)).first(where: { got[$0] != ref.ids.ids[$0] }) ?? (got.count != ref.ids.ids.count ? min(got.count, ref.ids.ids.count) : nil) {
            Issue.record("\(c.0): first difference at token \(i): got \(Array(got[i..<min(got.count, i + 8)])) expected \(Array(ref.ids.ids[i..<min(ref.ids.ids.count, i + 8)]))")
        }
        #expect(gotPlain == ref.ids_no_parse_special.ids, "\(c.0) without special parsing")
        // Round trip: decoding the ids (special tokens as text) gives the text back.
        let body = tok.settings.addBOS ? Array(got.dropFirst()) : got
        #expect(tok.decode(body, special: true) == text, "\(c.0) round trip")
    }

    @Test("decode(encode(x)) == x for arbitrary UTF-8", arguments: cases)
    func roundTrip(_ c: (String, String)) throws {
        let tok = try Tokenizer(TokenizerData(metadata: GGUFFile(path: Self.modelsDir.appendingPathComponent(c.1).path).metadata))
        var rng = SystemRandomNumberGenerator()
        let pool: [UnicodeScalar] = Array("aZ09 \t\n\r'’.,;!?-_€£ßéñ漢字かな한국어Ωжאعहि😀👍🏽🇫🇷\u{200D}\u{301}".unicodeScalars)
        for _ in 0..<200 {
            var s = ""
            for _ in 0..<Int.random(in: 0...40, using: &rng) { s.unicodeScalars.append(pool.randomElement(using: &rng)!) }
            let ids = tok.encode(s, addSpecial: false, parseSpecial: false)
            #expect(tok.decode(ids) == s, "\(c.0): \(s.debugDescription)")
        }
    }
}

@Suite("Streaming decode and parallel encode", .enabled(if: Vocabs.required || Vocabs.available, "run the fetch scripts"))
struct StreamingAndParallelTests {
    @Test("streamed text equals the whole decode and never splits a character", arguments: RealModelTokenizerTests.cases)
    func streaming(_ c: (String, String)) throws {
        let tok = try Tokenizer(TokenizerData(metadata: GGUFFile(path: RealModelTokenizerTests.modelsDir.appendingPathComponent(c.1).path).metadata))
        let text = String(decoding: try RealModelTokenizerTests.fixture("text.txt"), as: UTF8.self)
        let ids = tok.encode(text, addSpecial: false, parseSpecial: true)
        var d = StreamingDecoder(tok, special: true)
        var streamed = ""
        for id in ids {
            let piece = d.push(id)
            #expect(!piece.unicodeScalars.contains("\u{FFFD}") || text.unicodeScalars.contains("\u{FFFD}"))
            streamed += piece
        }
        streamed += d.flush()
        #expect(streamed == tok.decode(ids, special: true))
    }

    @Test("parallel encode gives the same ids as one thread", arguments: [RealModelTokenizerTests.cases[0], RealModelTokenizerTests.cases[2]])
    func parallel(_ c: (String, String)) throws {
        let tok = try Tokenizer(TokenizerData(metadata: GGUFFile(path: RealModelTokenizerTests.modelsDir.appendingPathComponent(c.1).path).metadata))
        let text = String(repeating: String(decoding: try RealModelTokenizerTests.fixture("text.txt"), as: UTF8.self), count: 5)
        for threads in [2, 3] {
            let par = tok.encodeParallel(text, pool: ThreadPool(threadCount: threads)), ser = tok.encode(text)
            #expect(par.count == ser.count && par == ser, "\(c.0) threads \(threads): \(par.count) vs \(ser.count) tokens")
        }
    }
}
