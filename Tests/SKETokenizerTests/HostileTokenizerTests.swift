// Hostile tokenizer metadata and text: clear errors or working tokenizers, never a trap.
import Testing
@testable import SKETokenizer

@Suite("Hostile tokenizer data")
struct HostileTokenizerTests {
    static let bytes256: [String] = (0..<256).map { String(Unicode.Scalar(byteToCodepoint[$0])!) }

    @Test("bad metadata is a typed error")
    func errors() {
        #expect(throws: TokenizerError.self) { try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: [])) }
        #expect(throws: TokenizerError.self) { try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: Self.bytes256, scores: [1, 2])) }
        #expect(throws: TokenizerError.self) { try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: Self.bytes256, bos: 999)) }
        #expect(throws: TokenizerError.self) { try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: Self.bytes256, eos: -5)) }
        #expect(throws: TokenizerError.unknownPreTokenizer("klingon")) { try Tokenizer(TokenizerData(model: .bpe, pre: "klingon", tokens: Self.bytes256)) }
    }

    @Test("odd but legal vocabularies still tokenize and round-trip")
    func oddVocabularies() throws {
        // Duplicate and empty tokens, merges without a space, merges of strings that are not tokens,
        // unknown token types, a vocabulary missing most bytes.
        var tokens = Self.bytes256 + ["", "ab", "ab", "Ġthe"]
        let merges = ["a b", "nospace", " lead", "x y", "Ġ t", "Ġt h", "Ġth e", "q q q"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[3] = 77; types[256] = 3
        let t = try Tokenizer(TokenizerData(model: .bpe, pre: "llama-bpe", tokens: tokens, types: types, merges: merges))
        for text in ["", "ab ab the the", "xyz qqq", "\u{0}\u{1}\u{7f}", "é漢😀", String(repeating: " ", count: 100)] {
            #expect(t.decode(t.encode(text, addSpecial: false)) == text)
        }
        tokens = Array(Self.bytes256[0..<10])
        let sparse = try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: tokens, unk: 0))
        _ = sparse.encode("bytes the vocabulary lacks: é漢😀", addSpecial: false)  // unknown bytes → unk, no trap
        let spm = try Tokenizer(TokenizerData(model: .spm, tokens: ["<unk>", "▁", "a", "▁a"], scores: [0, -1, -2, -0.5], types: [2, 1, 1, 1], unk: 0))
        #expect(spm.encode("a a", addSpecial: false) == [3, 3])
        _ = spm.encode("zzz 漢", addSpecial: false)  // no byte tokens: unknown pieces become <unk>
    }

    @Test("random byte soup never traps", arguments: ["gpt-2", "llama-bpe", "qwen2", "smollm", "falcon", "deepseek-llm", "deepseek-coder", "default"])
    func soup(_ pre: String) throws {
        let t = try BPETrainer.train(text: "the quick brown fox 123 jumps over the lazy dog ü漢 ", vocabSize: 300, pre: pre)
        let tok = try Tokenizer(t)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let s = String(decoding: bytes, as: UTF8.self)
            #expect(tok.decode(tok.encode(s, addSpecial: true, parseSpecial: true)) == s)
        }
    }

    /// A small tokenizer with merges, specials, scores and types: every table of the image is non-trivial.
    static func small() throws -> Tokenizer {
        var tokens = Self.bytes256 + ["ab", "abc", "<|end|>", "Ġthe"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[258] = 3
        tokens[5] = "x"
        return try Tokenizer(TokenizerData(model: .bpe, pre: "llama-bpe", tokens: tokens, scores: tokens.indices.map { Float($0) }, types: types,
                                           merges: ["a b", "ab c", "Ġ t", "Ġt h", "Ġth e"], bos: 258, eos: 258))
    }

    @Test("a tokenizer image, truncated anywhere or with any byte flipped: a typed error, nil (another version) or a working tokenizer")
    func hostileImage() throws {
        let image = try Self.small().image()
        for cut in 0..<image.count {
            #expect(throws: TokenizerError.self, "cut at \(cut)") { _ = try Array(image[0..<cut]).withUnsafeBytes { try Tokenizer(image: $0) } }
        }
        var rejected = 0, accepted = 0
        for at in 0..<image.count {
            var bad = image
            bad[at] ^= 0xA5
            do {
                guard let t = try bad.withUnsafeBytes({ try Tokenizer(image: $0) }) else { continue }
                accepted += 1
                let ids = t.encode("abc the <|end|> é漢 xyz", addSpecial: true, parseSpecial: true)
                _ = t.decode(ids, special: true)
            } catch is TokenizerError {
                rejected += 1
            }
        }
        #expect(rejected > 0 && accepted > 0)   // counts, offsets and ids refused; flipped text bytes still load
    }

    @Test("an image of another version is not read (nil: the caller builds from the metadata)")
    func otherVersion() throws {
        var image = try Self.small().image()
        image.withUnsafeMutableBytes { $0.storeBytes(of: Tokenizer.imageVersion + 1, toByteOffset: 8, as: UInt32.self) }
        #expect(try image.withUnsafeBytes { try Tokenizer(image: $0) } == nil)
    }

    @Test("an image whose hash tables have no free slot (a lookup would never end), or a BPE byte without a string (found by the fuzzer: read before the table), is refused")
    func fullTables() throws {
        let t = try Self.small()
        let full = Vocabulary(bytes: t.store.bytes, offsets: t.store.offsets, slots: Table([Int32](repeating: 0, count: t.store.slots.count)))
        let noEmptyMerge = MergeTable(keys: Table([UInt64](repeating: 7, count: t.merges.keys.count)), values: t.merges.values)
        var missingByte = t.byteTokens
        missingByte[97] = -1
        for (store, merges, byteTokens) in [(full, t.merges, t.byteTokens), (t.store, noEmptyMerge, t.byteTokens), (t.store, t.merges, missingByte)] {
            let bad = try Tokenizer(Tokenizer.Tables(settings: t.settings, vocabSize: t.vocabSize, scores: t.scores, types: t.types, store: store,
                                                     merges: merges, ignoreMerges: t.ignoreMerges, byteTokens: byteTokens,
                                                     pieces: t.pieces, pieceOffsets: t.pieceOffsets))
            #expect(throws: TokenizerError.self) { _ = try bad.image().withUnsafeBytes { try Tokenizer(image: $0) } }
        }
    }
}
