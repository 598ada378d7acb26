import Foundation
import Testing
@testable import SKETokenizer
import SKEFormats

@Suite("BPE trainer")
struct BPETrainerTests {
    static let corpus = String(repeating: "the theme of the thesis: there, then, thereafter — 42 themes, 1234 theses! ", count: 40)
        + "naïve café ünïcode 漢字 😀 \n\t end"

    @Test("the first merge is the most frequent adjacent byte pair (brute force), training is deterministic")
    func firstMerge() throws {
        let d = try BPETrainer.train(text: Self.corpus, vocabSize: 300)
        #expect(d.tokens.count == 300 && d.merges.count == 300 - 256 - 1)
        #expect(try BPETrainer.train(text: Self.corpus, vocabSize: 300).merges == d.merges)
        // Brute force over the same pre-tokenized words.
        var cps: [UInt32] = [], offs: [Int] = [], pieces: [Int] = [], scratch: [Int] = []
        let bytes = Array(Self.corpus.utf8)
        bytes.withUnsafeBufferPointer { decodeUTF8($0, into: &cps, offsets: &offs) }
        PreTokenizer(stages: preTokenizers["gpt-2"]!).split(cps, into: &pieces, scratch: &scratch)
        var pairs: [[UInt8]: Int] = [:]
        var c = 0
        for len in pieces {
            let w = Array(bytes[offs[c]..<offs[c + len]]); c += len
            for i in 0..<max(0, w.count - 1) { pairs[[w[i], w[i + 1]], default: 0] += 1 }
        }
        let best = pairs.max { $0.value != $1.value ? $0.value < $1.value : $0.key.lexicographicallyPrecedes($1.key) == false }!
        let printable = best.key.map { String(Unicode.Scalar(byteToCodepoint[Int($0)])!) }
        #expect(d.merges[0] == printable[0] + " " + printable[1], "first merge \(d.merges[0]) vs most frequent pair \(best)")
    }

    @Test("a trained vocabulary written as GGUF loads, compresses its corpus, and round-trips text", arguments: ["gpt-2", "qwen2", "smollm"])
    func roundTrip(_ pre: String) throws {
        let d = try BPETrainer.train(text: Self.corpus, vocabSize: 400, pre: pre)
        let bytes = GGUFWriter(metadata: d.ggufMetadata).serialize()
        let loaded = try bytes.withUnsafeBytes { try TokenizerData(metadata: GGUFFile(bytes: $0).metadata) }
        let tok = try Tokenizer(loaded)
        let ids = tok.encode(Self.corpus, addSpecial: false)
        #expect(ids.count * 3 < Self.corpus.utf8.count, "\(ids.count) tokens for \(Self.corpus.utf8.count) bytes")
        #expect(tok.decode(ids) == Self.corpus)
        #expect(tok.encode("<|endoftext|>", addSpecial: false, parseSpecial: true) == [Int32(d.tokens.count - 1)])
        #expect(tok.decode(tok.encode("unseen: Ωmega ∑ 🚀", addSpecial: false)) == "unseen: Ωmega ∑ 🚀")
    }

    @Test("bad requests are clear errors")
    func errors() {
        #expect(throws: TokenizerError.self) { try BPETrainer.train(text: "abc", vocabSize: 100) }
        #expect(throws: TokenizerError.unknownPreTokenizer("nope")) { try BPETrainer.train(text: "abc", vocabSize: 300, pre: "nope") }
    }
}
