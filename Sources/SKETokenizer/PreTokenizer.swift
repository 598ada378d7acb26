// Pre-tokenizers: split text into words before BPE, reproducing llama.cpp's regex splits (its hand-written
// matchers in unicode.cpp for the GPT-2, Llama-3 and Qwen2 expressions, and its generic regex path for
// "\p{N}" digit isolation) on code points, without a regex engine.
//
// A pre-tokenizer is a list of stages; each stage splits every piece produced by the previous one.
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)   (+ a trailing \s+)
//   llama3: (?i:'s|…)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  the llama3 expression with \p{N} (one digit per piece)
//   digits: every \p{N} code point is its own piece

public enum PreTokenizerStage: Sendable {
    case digits, gpt2, llama3(maxDigits: Int)
}

/// llama.cpp's `tokenizer.ggml.pre` names → stages. Unknown names are refused by the tokenizer.
public let preTokenizers: [String: [PreTokenizerStage]] = [
    "gpt-2": [.gpt2], "mpt": [.gpt2], "olmo": [.gpt2], "jais": [.gpt2], "trillion": [.gpt2], "granite-docling": [.gpt2],
    "gpt-neox": [.gpt2],
    "llama3": [.llama3(maxDigits: 3)], "llama-v3": [.llama3(maxDigits: 3)], "llama-bpe": [.llama3(maxDigits: 3)],
    "falcon3": [.llama3(maxDigits: 3)], "pixtral": [.llama3(maxDigits: 3)], "dbrx": [.llama3(maxDigits: 3)], "smaug-bpe": [.llama3(maxDigits: 3)],
    "qwen2": [.llama3(maxDigits: 1)], "stablelm2": [.llama3(maxDigits: 1)], "hunyuan": [.llama3(maxDigits: 1)],
    "starcoder": [.digits, .gpt2], "refact": [.digits, .gpt2], "command-r": [.digits, .gpt2], "smollm": [.digits, .gpt2],
    "codeshell": [.digits, .gpt2], "exaone": [.digits, .gpt2], "minerva-7b": [.digits, .gpt2],
]

struct PreTokenizer {
    let stages: [PreTokenizerStage]

    /// Splits code points cps[0..<n] into piece lengths (in code points), appended to `out`.
    func split(_ cps: [UInt32], into out: inout [Int], scratch: inout [Int]) {
        out.removeAll(keepingCapacity: true)
        out.append(cps.count)
        for stage in stages {
            scratch.removeAll(keepingCapacity: true)
            var start = 0
            for len in out {
                switch stage {
                case .digits: Self.splitDigits(cps, start, start + len, &scratch)
                case .gpt2: Self.splitGPT2(cps, start, start + len, &scratch)
                case .llama3(let maxDigits): Self.splitLlama3(cps, start, start + len, maxDigits, &scratch)
                }
                start += len
            }
            swap(&out, &scratch)
        }
    }

    static func splitDigits(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ out: inout [Int]) {
        var run = 0
        for i in lo..<hi {
            if CodepointFlags.of(cps[i]).contains(.number) {
                if run > 0 { out.append(run); run = 0 }
                out.append(1)
            } else {
                run += 1
            }
        }
        if run > 0 { out.append(run) }
    }

    static func splitGPT2(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ out: inout [Int]) {
        @inline(__always) func cpt(_ p: Int) -> UInt32? { p >= lo && p < hi ? cps[p] : nil }
        @inline(__always) func flags(_ p: Int) -> CodepointFlags? { p >= lo && p < hi ? CodepointFlags.of(cps[p]) : nil }
        var prev = lo
        @inline(__always) func emit(_ end: Int) { if end > prev { out.append(end - prev) }; prev = end }
        var pos = lo
        while pos < hi {
            let c = cps[pos]
            if c == 39 /* ' */ && pos + 1 < hi {
                let n1 = cps[pos + 1]
                if n1 == 115 || n1 == 116 || n1 == 109 || n1 == 100 { emit(pos + 2); pos += 2; continue }  // s t m d
                if pos + 2 < hi {
                    let n2 = cps[pos + 2]
                    if (n1 == 114 && n2 == 101) || (n1 == 118 && n2 == 101) || (n1 == 108 && n2 == 108) { emit(pos + 3); pos += 3; continue }
                }
            }
            var f2 = c == 32 ? flags(pos + 1) : flags(pos)
            if let f = f2, f.contains(.letter) {
                if c == 32 { pos += 1 }
                while let g = f2, g.contains(.letter) { pos += 1; f2 = flags(pos) }
                emit(pos); continue
            }
            if let f = f2, f.contains(.number) {
                if c == 32 { pos += 1 }
                while let g = f2, g.contains(.number) { pos += 1; f2 = flags(pos) }
                emit(pos); continue
            }
            if let f = f2, f.isDisjoint(with: [.whitespace, .letter, .number]) {
                if c == 32 { pos += 1 }
                while let g = f2, g.isDisjoint(with: [.whitespace, .letter, .number]) { pos += 1; f2 = flags(pos) }
                emit(pos); continue
            }
            var ws = 0
            while let f = flags(pos + ws), f.contains(.whitespace) { ws += 1 }
            if ws > 1 && cpt(pos + ws) != nil { pos += ws - 1; emit(pos); continue }
            if ws > 0 { pos += ws; emit(pos); continue }
            pos += 1; emit(pos)
        }
    }

    static func splitLlama3(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ maxDigits: Int, _ out: inout [Int]) {
        @inline(__always) func cpt(_ p: Int) -> UInt32? { p >= lo && p < hi ? cps[p] : nil }
        @inline(__always) func flags(_ p: Int) -> CodepointFlags? { p >= lo && p < hi ? CodepointFlags.of(cps[p]) : nil }
        var prev = lo
        @inline(__always) func emit(_ end: Int) { if end > prev { out.append(end - prev) }; prev = end }
        var pos = lo
        while pos < hi {
            let c = cps[pos]
            let f = CodepointFlags.of(c)
            if c == 39 && pos + 1 < hi {
                let n1 = lowercased(cps[pos + 1])
                if n1 == 115 || n1 == 116 || n1 == 109 || n1 == 100 { emit(pos + 2); pos += 2; continue }
                if pos + 2 < hi {
                    let n2 = lowercased(cps[pos + 2])
                    if (n1 == 114 && n2 == 101) || (n1 == 118 && n2 == 101) || (n1 == 108 && n2 == 108) { emit(pos + 3); pos += 3; continue }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 13 || c == 10 || f.contains(.number)) {
                if f.contains(.letter) || (flags(pos + 1)?.contains(.letter) ?? false) {
                    pos += 1
                    while let g = flags(pos), g.contains(.letter) { pos += 1 }
                    emit(pos); continue
                }
            }
            // \p{N}{1,maxDigits}
            if f.contains(.number) {
                var ini = pos
                while let g = flags(pos), g.contains(.number) {
                    pos += 1
                    if pos - ini >= maxDigits { emit(pos); ini = pos }
                }
                emit(pos); continue
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            var f2 = c == 32 ? flags(pos + 1) : f
            if let g0 = f2, g0.isDisjoint(with: [.whitespace, .letter, .number]) {
                if c == 32 { pos += 1 }
                while let g = f2, g.isDisjoint(with: [.whitespace, .letter, .number]) { pos += 1; f2 = flags(pos) }
                while let c2 = cpt(pos), c2 == 13 || c2 == 10 { pos += 1 }
                emit(pos); continue
            }
            var ws = 0, lastRN = 0
            while let g = flags(pos + ws), g.contains(.whitespace) {
                let c2 = cps[pos + ws]
                if c2 == 13 || c2 == 10 { lastRN = pos + ws + 1 }
                ws += 1
            }
            if lastRN > 0 { pos = lastRN; emit(pos); continue }          // \s*[\r\n]+
            if ws > 1 && cpt(pos + ws) != nil { pos += ws - 1; emit(pos); continue }  // \s+(?!\S)
            if ws > 0 { pos += ws; emit(pos); continue }                 // \s+
            pos += 1; emit(pos)
        }
    }
}
