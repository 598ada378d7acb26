// llama.cpp's own tokenizer test vectors (models/ggml-vocab-*.gguf{,.inp,.out}, fetched from the
// llama-cpp-python sdist by scripts/fetch-vocabs.sh): every input must give exactly llama.cpp's ids
// (add_special = false, parse_special = false, as llama.cpp's test-tokenizer-0 runs them).
import Foundation
import Testing
@testable import SKETokenizer
import SKEFormats

enum Vocabs {
    static let dir = ProcessInfo.processInfo.environment["SKE_VOCAB_DIR"].map { URL(fileURLWithPath: $0) }
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/vocab")
    static let required = ProcessInfo.processInfo.environment["SKE_REQUIRE_MODELS"] == "1"
    static func path(_ name: String) -> String { dir.appendingPathComponent("ggml-vocab-\(name).gguf").path }
    static var available: Bool { FileManager.default.fileExists(atPath: path("gpt-2")) }
    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(TokenizerData(metadata: GGUFFile(path: path(name)).metadata))
    }
}

/// Image bytes in memory of their own, as a mapping holds them.
final class ImageMemory {
    let bytes: UnsafeRawBufferPointer
    init(_ image: [UInt8]) {
        let m = UnsafeMutableRawBufferPointer.allocate(byteCount: image.count, alignment: 64)
        m.copyMemory(from: UnsafeRawBufferPointer(start: image, count: image.count))
        bytes = UnsafeRawBufferPointer(m)
    }
    deinit { bytes.deallocate() }
}

@Suite("llama.cpp tokenizer test vectors", .enabled(if: Vocabs.required || Vocabs.available, "run scripts/fetch-vocabs.sh"))
struct LlamaVocabTests {
    /// The suites ske supports (the pre-tokenizers listed in the issue that llama.cpp ships vectors for).
    static let suites = ["gpt-2", "llama-bpe", "llama-spm", "qwen2", "starcoder", "refact", "command-r", "mpt", "phi-3",
                         "falcon", "deepseek-llm", "deepseek-coder"]

    @Test("every test string tokenizes exactly as llama.cpp", arguments: suites)
    func suite(_ name: String) throws {
        let inp = try String(contentsOfFile: Vocabs.path(name) + ".inp", encoding: .utf8)
        let out = try String(contentsOfFile: Vocabs.path(name) + ".out", encoding: .utf8)
        let texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n").dropLast()
        let expected = out.components(separatedBy: "\n").prefix(texts.count).map { line in
            line.split(separator: " ").map { Int32($0)! }
        }
        try #require(texts.count == expected.count && texts.count > 10)
        let built = try Vocabs.tokenizer(name)
        // The same tables read back from the image a .bump stores: same ids, and the same image written again.
        let image = built.image()
        let copied = try #require(try image.withUnsafeBytes { try Tokenizer(image: $0) })
        // Borrowed in place, as from a mapped .bump (8-byte aligned memory its owner keeps alive).
        let mapped = ImageMemory(image)
        let read = try #require(try Tokenizer(image: mapped.bytes, owner: mapped))
        for t in [copied, read] {
            #expect(t.image() == image && t.settings == built.settings && t.vocabSize == built.vocabSize, "\(name) image")
        }
        var failures = 0
        for (text, ids) in zip(texts, expected) {
            let got = built.encode(text, addSpecial: false, parseSpecial: false)
            #expect(read.encode(text, addSpecial: false, parseSpecial: false) == got, "\(name) from its image: \(text.debugDescription)")
            #expect(read.decode(got, special: true) == built.decode(got, special: true))
            if got != ids {
                failures += 1
                if failures <= 3 { Issue.record("\(name): \(text.debugDescription)\n  got      \(got)\n  expected \(ids)") }
            }
        }
        #expect(failures == 0, "\(name): \(failures) of \(texts.count) strings differ")
    }
}
