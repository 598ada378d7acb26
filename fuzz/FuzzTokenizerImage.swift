import Foundation
import SKETokenizer
// libFuzzer entry point: arbitrary bytes as a tokenizer image (what a .bump stores), read both in place (borrowed,
// as from a mapping) and copied; when one loads, encode and decode with it. Any trap or sanitizer report is a bug.
// Built by scripts/fuzz.sh, which first runs it with SKE_FUZZ_WRITE_SEEDS=DIR to write seed images of a small
// byte-level BPE and a small SentencePiece-style tokenizer.

/// Aligned memory of its own, kept alive by the tokenizer that borrows it.
final class ImageBox {
    let bytes: UnsafeRawBufferPointer
    init(_ raw: UnsafeRawBufferPointer) {
        let m = UnsafeMutableRawBufferPointer.allocate(byteCount: max(raw.count, 1), alignment: 64)
        if raw.count > 0 { m.copyMemory(from: raw) }
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(m)[0..<raw.count])
    }
    deinit { UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }
}

func seeds() throws -> [(String, [UInt8])] {
    // GPT-2's printable stand-ins for the 256 bytes.
    var printable = Array(33...126) + Array(161...172) + Array(174...255)
    var cps = [Int](repeating: 0, count: 256), extra = 256
    for b in 0..<256 { if printable.contains(b) { cps[b] = b } else { cps[b] = extra; extra += 1 } }
    printable.removeAll()
    let bytes = cps.map { String(Character(Unicode.Scalar(UInt32($0))!)) }
    var tokens = bytes + ["ab", "abc", "<|end|>", "Ġthe", "Ġt", "Ġth"]
    var types = [Int32](repeating: 1, count: tokens.count)
    types[258] = 3
    tokens[7] = "x"
    let bpe = try Tokenizer(TokenizerData(model: .bpe, pre: "gpt-2", tokens: tokens, types: types,
                                          merges: ["a b", "ab c", "Ġ t", "Ġt h", "Ġth e"], bos: 258, eos: 258))
    let hex = (0..<256).map { "<0x" + String($0, radix: 16, uppercase: true).leftPadded2 + ">" }
    let spmTokens = ["<unk>", "<s>", "</s>"] + hex + ["▁", "a", "▁a", "b", "▁ab", "ab"]
    var spmTypes = [Int32](repeating: 1, count: spmTokens.count)
    spmTypes[0] = 2; spmTypes[1] = 3; spmTypes[2] = 3
    for i in 3..<259 { spmTypes[i] = 6 }
    let spm = try Tokenizer(TokenizerData(model: .spm, tokens: spmTokens, scores: spmTokens.indices.map { -Float($0) }, types: spmTypes,
                                          bos: 1, eos: 2, unk: 0, addBOS: true))
    return [("bpe.img", bpe.image()), ("spm.img", spm.image())]
}

extension String { var leftPadded2: String { count >= 2 ? self : "0" + self } }

/// With SKE_FUZZ_WRITE_SEEDS=DIR: writes the seed images there and exits, before any input is run.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let dir = ProcessInfo.processInfo.environment["SKE_FUZZ_WRITE_SEEDS"] {
        for (name, image) in try! seeds() { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(image)) }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let box = ImageBox(raw)
    for t in [try? Tokenizer(image: box.bytes, owner: box), try? Tokenizer(image: raw)] {
        guard let t = t ?? nil else { continue }
        let ids = t.encode("the abc <|end|> ab a b é漢😀 \u{0}", addSpecial: true, parseSpecial: true)
        _ = t.decode(ids, special: true)
        for id in Int32(-1)...Int32(min(t.vocabSize, 400)) { _ = t.pieceBytes(id, special: true); _ = t.tokenText(id); _ = t.type(of: id) }
        _ = t.image()
    }
    return 0
}
