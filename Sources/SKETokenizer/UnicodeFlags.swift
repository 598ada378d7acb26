// Code point classes the pre-tokenizers need (\p{L}, \p{N}, \s), from the standard library's Unicode
// properties, cached in a table for the Basic Multilingual Plane so the hot path is one load.
// llama.cpp's equivalent is unicode_cpt_flags (letters = L*, numbers = N*, whitespace = White_Space).

struct CodepointFlags: OptionSet, Sendable {
    let rawValue: UInt8
    init(rawValue: UInt8) { self.rawValue = rawValue }
    static let letter = CodepointFlags(rawValue: 1)
    static let number = CodepointFlags(rawValue: 2)
    static let whitespace = CodepointFlags(rawValue: 4)
    static let mark = CodepointFlags(rawValue: 8)
    static let punctuation = CodepointFlags(rawValue: 16)

    static func compute(_ cp: UInt32) -> CodepointFlags {
        guard let s = Unicode.Scalar(cp) else { return [] }
        var f: CodepointFlags = []
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: f.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber: f.insert(.number)
        case .nonspacingMark, .spacingMark, .enclosingMark: f.insert(.mark)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: f.insert(.punctuation)
        default: break
        }
        if s.properties.isWhitespace { f.insert(.whitespace) }
        return f
    }

    static let bmp: [CodepointFlags] = (0..<0x10000).map { compute(UInt32($0)) }

    @inline(__always) static func of(_ cp: UInt32) -> CodepointFlags {
        cp < 0x10000 ? bmp[Int(cp)] : compute(cp)
    }
}

/// Lowercase of one code point (for the case-insensitive contractions of the llama3/qwen2 pre-tokenizers).
@inline(__always) func lowercased(_ cp: UInt32) -> UInt32 {
    if cp < 128 { return cp >= 65 && cp <= 90 ? cp + 32 : cp }
    guard let s = Unicode.Scalar(cp) else { return cp }
    let m = s.properties.lowercaseMapping.unicodeScalars
    return m.count == 1 ? m.first!.value : cp
}

/// UTF-8 bytes → code points, with the byte offset where each starts (and a final offset = count).
/// Invalid bytes become U+FFFD one byte at a time (as llama.cpp's decoder does).
func decodeUTF8(_ b: UnsafeBufferPointer<UInt8>, into cps: inout [UInt32], offsets: inout [Int]) {
    cps.removeAll(keepingCapacity: true); offsets.removeAll(keepingCapacity: true)
    var i = 0
    let n = b.count
    while i < n {
        offsets.append(i)
        let c0 = b[i]
        if c0 < 0x80 { cps.append(UInt32(c0)); i += 1; continue }
        var len = 0, cp: UInt32 = 0
        if c0 & 0xE0 == 0xC0 { len = 2; cp = UInt32(c0 & 0x1F) } else if c0 & 0xF0 == 0xE0 { len = 3; cp = UInt32(c0 & 0x0F) } else if c0 & 0xF8 == 0xF0 { len = 4; cp = UInt32(c0 & 0x07) }
        var ok = len > 0 && i + len <= n
        if ok { for k in 1..<len where b[i + k] & 0xC0 != 0x80 { ok = false } }
        if !ok { cps.append(0xFFFD); i += 1; continue }
        for k in 1..<len { cp = cp << 6 | UInt32(b[i + k] & 0x3F) }
        cps.append(cp); i += len
    }
    offsets.append(n)
}
