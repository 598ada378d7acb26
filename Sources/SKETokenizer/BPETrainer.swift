// Byte-level BPE training (what `ske tokenizer train` runs): learn merges from a corpus so training from
// scratch does not depend on someone else's vocabulary.
//
//   1. pre-tokenize the corpus (any supported pre-tokenizer; words never cross its boundaries) and count words;
//   2. start from the 256 bytes; repeatedly merge the most frequent adjacent pair (ties: the smaller pair of
//      ids, so training is deterministic), updating pair counts only in the words that contain the pair;
//   3. emit GPT-2-style tokens (bytes mapped to printable code points) and "A B" merges, loadable by
//      `Tokenizer` and by llama.cpp (tokenizer.ggml.model = gpt2).
// Pair counts live in a max-heap with lazy invalidation (an entry is used only if its count is current).

public enum BPETrainer {
    public static func train(text: String, vocabSize: Int, pre: String = "gpt-2",
                             specialTokens: [String] = ["<|endoftext|>"]) throws -> TokenizerData {
        guard let stages = preTokenizers[pre] else { throw TokenizerError.unknownPreTokenizer(pre) }
        guard vocabSize >= 256 + specialTokens.count else {
            throw TokenizerError.invalid("vocabulary size \(vocabSize) is smaller than the 256 bytes plus \(specialTokens.count) special tokens")
        }
        // 1. Words and their counts.
        let bytes = Array(text.utf8)
        var cps: [UInt32] = [], offsets: [Int] = [], pieces: [Int] = [], scratch: [Int] = []
        bytes.withUnsafeBufferPointer { decodeUTF8($0, into: &cps, offsets: &offsets) }
        PreTokenizer(stages: stages).split(cps, into: &pieces, scratch: &scratch)
        var counts: [[UInt8]: Int] = [:]
        var cp = 0
        for len in pieces {
            counts[Array(bytes[offsets[cp]..<offsets[cp + len]]), default: 0] += 1
            cp += len
        }
        var words: [[Int32]] = [], freq: [Int] = []
        for (w, c) in counts.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            words.append(w.map { Int32($0) }); freq.append(c)
        }
        // 2. Pair statistics.
        var symbolBytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var pairCount: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (wi, w) in words.enumerated() where w.count > 1 {
            for i in 0..<(w.count - 1) {
                let k = key(w[i], w[i + 1])
                pairCount[k, default: 0] += freq[wi]
                pairWords[k, default: []].append(Int32(wi))
            }
        }
        var heap = BinaryHeap<PairCount>()
        for (k, c) in pairCount { heap.push(PairCount(count: c, pair: k)) }
        var merges: [(Int32, Int32)] = []
        let target = vocabSize - specialTokens.count
        while symbolBytes.count < target, let top = heap.pop() {
            let (c, k) = (top.count, top.pair)
            guard pairCount[k] == c, c > 0 else { continue }  // stale entry
            let a = Int32(truncatingIfNeeded: k >> 32), b = Int32(truncatingIfNeeded: k & 0xFFFF_FFFF)
            let new = Int32(symbolBytes.count)
            symbolBytes.append(symbolBytes[Int(a)] + symbolBytes[Int(b)])
            merges.append((a, b))
            var touched: Set<UInt64> = []
            var seen: Set<Int32> = []
            for wi in pairWords[k] ?? [] where seen.insert(wi).inserted {
                let w = words[Int(wi)], f = freq[Int(wi)]
                guard w.count > 1 else { continue }
                var merged: [Int32] = []
                merged.reserveCapacity(w.count)
                var i = 0, changed = false
                while i < w.count {
                    if i + 1 < w.count && w[i] == a && w[i + 1] == b { merged.append(new); i += 2; changed = true } else { merged.append(w[i]); i += 1 }
                }
                guard changed else { continue }
                for j in 0..<(w.count - 1) { let p = key(w[j], w[j + 1]); pairCount[p, default: 0] -= f; touched.insert(p) }
                for j in 0..<max(0, merged.count - 1) {
                    let p = key(merged[j], merged[j + 1])
                    pairCount[p, default: 0] += f; touched.insert(p)
                    pairWords[p, default: []].append(wi)
                }
                words[Int(wi)] = merged
            }
            pairWords[k] = nil
            for p in touched { if let c2 = pairCount[p], c2 > 0 { heap.push(PairCount(count: c2, pair: p)) } else { pairCount[p] = nil } }
        }
        // 3. Vocabulary in GPT-2's printable form.
        func printable(_ b: [UInt8]) -> String {
            var s = ""
            for x in b { s.unicodeScalars.append(Unicode.Scalar(byteToCodepoint[Int(x)])!) }
            return s
        }
        var tokens = symbolBytes.map(printable)
        var types = [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        let mergeStrings = merges.map { printable(symbolBytes[Int($0.0)]) + " " + printable(symbolBytes[Int($0.1)]) }
        for s in specialTokens { tokens.append(s); types.append(TokenType.control.rawValue) }
        let eos = specialTokens.isEmpty ? nil : Int32(tokens.count - specialTokens.count)
        return TokenizerData(model: .bpe, pre: pre, tokens: tokens, types: types, merges: mergeStrings,
                             bos: eos, eos: eos, addBOS: false, addEOS: false, addSpacePrefix: false)
    }
}

/// Pair statistics entry: the highest count first, ties to the smaller pair key.
struct PairCount: HeapOrdered {
    var count: Int, pair: UInt64
    @inline(__always) static func before(_ x: PairCount, _ y: PairCount) -> Bool { x.count != y.count ? x.count > y.count : x.pair < y.pair }
}
