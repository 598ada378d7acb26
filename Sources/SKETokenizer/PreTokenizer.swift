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
    /// llama.cpp's generic regex path for the simple shapes its other pre-tokenizers use: every match is a
    /// piece and so is every gap between matches. `X` (one code point), `X+` (a run), `\s?X+` (a run with one
    /// optional leading whitespace).
    case isolate(CharClass, Repeat)
    /// `\s+$`: a whitespace run at the end of the piece.
    case trailingWhitespace
    /// `[0-9][0-9][0-9]`: leftmost non-overlapping triples of ASCII digits.
    case digitTriples

    public enum Repeat: Sendable { case one, run, spaceRun }
}

/// A set of code points, as ranges (sorted, inclusive).
public struct CharClass: Sendable {
    let ranges: [ClosedRange<UInt32>]
    /// Adds Unicode categories for code points ≥ 128 (llama.cpp's "collapsed" regex path).
    let letters: Bool, numbers: Bool, punctuation: Bool

    init(_ ranges: [ClosedRange<UInt32>], letters: Bool = false, numbers: Bool = false, punctuation: Bool = false) {
        self.ranges = ranges; self.letters = letters; self.numbers = numbers; self.punctuation = punctuation
    }

    /// Parses a regex bracket body such as "A-Za-zµÀ-Ö" (literal code points and a-b ranges).
    init(bracket: String) {
        let cps = Array(bracket.unicodeScalars.map(\.value))
        var r: [ClosedRange<UInt32>] = []
        var i = 0
        while i < cps.count {
            if i + 2 < cps.count && cps[i + 1] == 45 { r.append(cps[i]...max(cps[i], cps[i + 2])); i += 3 } else { r.append(cps[i]...cps[i]); i += 1 }
        }
        self.init(r)
    }

    @inline(__always) func contains(_ cp: UInt32) -> Bool {
        for r in ranges where r.contains(cp) { return true }
        guard cp >= 128, letters || numbers || punctuation else { return false }
        let f = CodepointFlags.of(cp)
        if f.contains(.whitespace) { return false }
        return (letters && f.contains(.letter)) || (numbers && f.contains(.number)) || (punctuation && f.contains(.punctuation))
    }

    /// \s as llama.cpp evaluates it (ASCII whitespace, and every non-ASCII whitespace mapped to \v).
    @inline(__always) static func isSpace(_ cp: UInt32) -> Bool {
        cp == 32 || (cp >= 9 && cp <= 13) || (cp >= 128 && CodepointFlags.of(cp).contains(.whitespace))
    }

    // The classes llama.cpp's pre-tokenizer regexes use.
    static let collapsedLetters = CharClass([65...90, 97...122], letters: true)
    static let collapsedPunctuation = CharClass([33...35, 37...42, 44...47, 58...59, 63...64, 91...93, 95...95, 123...123, 125...125], punctuation: true)
    static let falconPunctuation = CharClass([33...47, 58...64, 91...96, 123...126], punctuation: true)
    static let defaultPunctuation = CharClass([33...47, 58...64, 91...95, 123...126], punctuation: true)  // falcon's without `
    static let cjkHangul = CharClass(bracket: "一-龥ࠀ-一가-퟿")
    static let newline = CharClass([10...10, 13...13])
    static let deepseekLetters = CharClass(bracket: "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃")
    static let deepseekPunctuation = CharClass(bracket: "!-/:-~！-／：-～‘-‟　-。")
    static let collapsedNumbers = CharClass([48...57], numbers: true)
}

/// llama.cpp's `tokenizer.ggml.pre` names → stages. Unknown names are refused by the tokenizer.
public let preTokenizers: [String: [PreTokenizerStage]] = [
    "gpt-2": [.gpt2], "mpt": [.gpt2], "olmo": [.gpt2], "jais": [.gpt2], "trillion": [.gpt2], "granite-docling": [.gpt2],
    "phi-2": [.gpt2], "mellum": [.gpt2],
    // llama.cpp's "default" (a BPE vocabulary without tokenizer.ggml.pre, e.g. GPT-NeoX's).
    "default": [.isolate(.defaultPunctuation, .run), .gpt2, .isolate(.collapsedNumbers, .run), .digitTriples],
    "llama3": [.llama3(maxDigits: 3)], "llama-v3": [.llama3(maxDigits: 3)], "llama-bpe": [.llama3(maxDigits: 3)],
    "falcon3": [.llama3(maxDigits: 3)], "pixtral": [.llama3(maxDigits: 3)], "dbrx": [.llama3(maxDigits: 3)], "smaug-bpe": [.llama3(maxDigits: 3)],
    "qwen2": [.llama3(maxDigits: 1)], "stablelm2": [.llama3(maxDigits: 1)], "hunyuan": [.llama3(maxDigits: 1)],
    "starcoder": [.digits, .gpt2], "refact": [.digits, .gpt2], "command-r": [.digits, .gpt2], "smollm": [.digits, .gpt2],
    "codeshell": [.digits, .gpt2], "exaone": [.digits, .gpt2], "minerva-7b": [.digits, .gpt2],
    "falcon": [.isolate(.falconPunctuation, .run), .gpt2, .digitTriples],
    "deepseek-coder": [.isolate(.newline, .one), .isolate(.collapsedLetters, .spaceRun), .isolate(.collapsedPunctuation, .spaceRun),
                       .isolate(.cjkHangul, .run), .isolate(.collapsedNumbers, .one)],
    "deepseek-llm": [.isolate(.newline, .one), .isolate(.deepseekLetters, .spaceRun), .isolate(.deepseekPunctuation, .spaceRun),
                     .trailingWhitespace, .isolate(.cjkHangul, .run), .isolate(.collapsedNumbers, .run)],
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
                case .isolate(let c, let rep): Self.splitIsolate(cps, start, start + len, c, rep, &scratch)
                case .trailingWhitespace: Self.splitTrailingWhitespace(cps, start, start + len, &scratch)
                case .digitTriples: Self.splitDigitTriples(cps, start, start + len, &scratch)
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

    /// Leftmost matches of X / X+ / \s?X+, each match and each gap a piece.
    static func splitIsolate(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ c: CharClass, _ rep: PreTokenizerStage.Repeat, _ out: inout [Int]) {
        var gap = lo, p = lo
        while p < hi {
            var mStart = -1, mEnd = -1
            if rep == .spaceRun && CharClass.isSpace(cps[p]) && p + 1 < hi && c.contains(cps[p + 1]) {
                mStart = p; mEnd = p + 1
            } else if c.contains(cps[p]) {
                mStart = p; mEnd = p
            }
            guard mStart >= 0 else { p += 1; continue }
            mEnd += 1
            if rep != .one { while mEnd < hi && c.contains(cps[mEnd]) { mEnd += 1 } }
            if mStart > gap { out.append(mStart - gap) }
            out.append(mEnd - mStart)
            gap = mEnd; p = mEnd
        }
        if hi > gap { out.append(hi - gap) }
    }

    static func splitTrailingWhitespace(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ out: inout [Int]) {
        var s = hi
        while s > lo && CharClass.isSpace(cps[s - 1]) { s -= 1 }
        if s > lo { out.append(s - lo) }
        if hi > s { out.append(hi - s) }
    }

    static func splitDigitTriples(_ cps: [UInt32], _ lo: Int, _ hi: Int, _ out: inout [Int]) {
        @inline(__always) func d(_ i: Int) -> Bool { cps[i] >= 48 && cps[i] <= 57 }
        var gap = lo, p = lo
        while p + 3 <= hi {
            if d(p) && d(p + 1) && d(p + 2) {
                if p > gap { out.append(p - gap) }
                out.append(3); p += 3; gap = p
            } else {
                p += 1
            }
        }
        if hi > gap { out.append(hi - gap) }
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
