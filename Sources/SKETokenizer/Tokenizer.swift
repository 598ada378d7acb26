// Tokenizer: byte-level BPE (tokenizer.ggml.model = gpt2) and SentencePiece-style BPE (= llama), token for
// token as llama.cpp's llama-vocab.cpp does it:
//   1. special tokens are cut out of the text first (control/unknown ones only when parseSpecial);
//   2. BPE: pre-tokenize into words, map bytes to GPT-2's printable code points, merge the lowest-ranked
//      adjacent pair until none is left (a word that is itself a token is taken whole for llama3-style vocabs);
//   3. SPM: spaces become "▁" (a leading one when add_space_prefix), merge the highest-scoring adjacent pair
//      whose concatenation is a token, unknown pieces fall back to <0xNN> byte tokens.
// Hot path: ids and byte slices only (TokenStore/MergeTable), one reusable heap, no String keys.

import SKECore

public enum TokenType: Int32, Sendable { case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

/// Everything a tokenizer is built from (what GGUF's tokenizer.ggml.* keys hold).
public struct TokenizerData: Sendable {
    public enum Model: String, Sendable { case bpe = "gpt2", spm = "llama" }
    public var model: Model
    public var pre: String?
    public var tokens: [String]
    public var scores: [Float]
    public var types: [Int32]
    public var merges: [String]
    public var bos: Int32?, eos: Int32?, unk: Int32?, pad: Int32?
    public var addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool

    public init(model: Model, pre: String? = nil, tokens: [String], scores: [Float] = [], types: [Int32] = [], merges: [String] = [],
                bos: Int32? = nil, eos: Int32? = nil, unk: Int32? = nil, pad: Int32? = nil,
                addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = true) {
        self.model = model; self.pre = pre; self.tokens = tokens; self.scores = scores; self.types = types; self.merges = merges
        self.bos = bos; self.eos = eos; self.unk = unk; self.pad = pad
        self.addBOS = addBOS; self.addEOS = addEOS; self.addSpacePrefix = addSpacePrefix
    }
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unknownModel(String)
    case unknownPreTokenizer(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownModel(let m): return "unsupported tokenizer model '\(m)' (supported: gpt2, llama)"
        case .unknownPreTokenizer(let p):
            return "unsupported pre-tokenizer '\(p)' (supported: \(preTokenizers.keys.sorted().joined(separator: ", ")))"
        case .invalid(let s): return "invalid tokenizer data: \(s)"
        }
    }
}

/// GPT-2's byte ↔ printable code point map (bytes_to_unicode).
let byteToCodepoint: [UInt32] = {
    var printable = Array(33...126) + Array(161...172) + Array(174...255)
    var map = [UInt32](repeating: 0, count: 256)
    for b in printable { map[b] = UInt32(b) }
    var n: UInt32 = 0
    for b in 0..<256 where !printable.contains(b) { map[b] = 256 + n; n += 1 }
    printable.removeAll()
    return map
}()

/// The inverse map: printable code point → byte (−1 where none), indexed by code point.
let codepointToByte: [Int16] = {
    var t = [Int16](repeating: -1, count: Int(byteToCodepoint.max()!) + 1)
    for b in 0..<256 { t[Int(byteToCodepoint[b])] = Int16(b) }
    return t
}()

func utf8(_ cp: UInt32) -> [UInt8] { Array(String(Character(Unicode.Scalar(cp)!)).utf8) }

/// What a tokenizer is besides its tables: the kind of model, the pre-tokenizer's name, the special ids and flags.
public struct TokenizerSettings: Sendable, Equatable {
    public var model: TokenizerData.Model
    public var pre: String?
    public var bos: Int32?, eos: Int32?, unk: Int32?, pad: Int32?
    public var addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool
}

extension TokenizerData {
    public var settings: TokenizerSettings {
        TokenizerSettings(model: model, pre: pre, bos: bos, eos: eos, unk: unk, pad: pad, addBOS: addBOS, addEOS: addEOS, addSpacePrefix: addSpacePrefix)
    }
}

public final class Tokenizer: @unchecked Sendable {
    public let settings: TokenizerSettings
    public let vocabSize: Int
    /// Per token (empty when the vocabulary has none): SPM merge scores, token types.
    let scores: Table<Float>
    let types: Table<Int32>
    let store: Vocabulary
    let merges: MergeTable
    let pre: PreTokenizer
    let ignoreMerges: Bool
    /// BPE: id of the token for each byte's mapped code point. SPM: id of <0xNN>.
    let byteTokens: [Int32]
    /// Special tokens to cut out of text, longest first, and their indices by first byte.
    let specials: [(id: Int32, bytes: [UInt8], control: Bool)]
    let specialsByFirstByte: [[Int]]
    /// Every token's decoded bytes, back to back (see `decodedPiece`).
    let pieces: Table<UInt8>
    let pieceOffsets: Table<Int>

    /// The built tables (what `init(_:)` computes from TokenizerData and `init(image:)` reads back).
    struct Tables {
        var settings: TokenizerSettings
        var vocabSize: Int
        var scores: Table<Float>, types: Table<Int32>
        var store: Vocabulary, merges: MergeTable
        var ignoreMerges: Bool
        var byteTokens: [Int32]
        var pieces: Table<UInt8>, pieceOffsets: Table<Int>
    }

    init(_ t: Tables) throws {
        settings = t.settings; vocabSize = t.vocabSize; scores = t.scores; types = t.types
        store = t.store; merges = t.merges; ignoreMerges = t.ignoreMerges; byteTokens = t.byteTokens
        pieces = t.pieces; pieceOffsets = t.pieceOffsets
        switch t.settings.model {
        case .bpe:
            let preName = t.settings.pre ?? "default"
            guard let stages = preTokenizers[preName] else { throw TokenizerError.unknownPreTokenizer(preName) }
            pre = PreTokenizer(stages: stages)
        case .spm:
            pre = PreTokenizer(stages: [])
        }
        var sp: [(Int32, [UInt8], Bool)] = []
        for i in 0..<types.count {
            let type = TokenType(rawValue: types[i]) ?? .undefined
            if type == .control || type == .userDefined || type == .unknown {
                let bytes = Array(store.tokenBytes(Int32(i)))
                if !bytes.isEmpty { sp.append((Int32(i), bytes, type != .userDefined)) }
            }
        }
        specials = sp.enumerated().sorted { $0.element.1.count != $1.element.1.count ? $0.element.1.count > $1.element.1.count : $0.offset < $1.offset }.map(\.element)
        var byFirst = [[Int]](repeating: [], count: 256)
        for (k, t) in specials.enumerated() { byFirst[Int(t.bytes[0])].append(k) }
        specialsByFirstByte = byFirst
    }

    public convenience init(_ d: TokenizerData) throws { try self.init(Self.build(d)) }

    /// The tables for `d`: every vocabulary string hashed, every merge rule resolved, every piece decoded.
    static func build(_ d: TokenizerData) throws -> Tables {
        let n = d.tokens.count
        guard n > 0 else { throw TokenizerError.invalid("empty vocabulary") }
        guard d.scores.isEmpty || d.scores.count == n, d.types.isEmpty || d.types.count == n else {
            throw TokenizerError.invalid("scores/types arrays do not match the \(n) tokens")
        }
        for (name, id) in [("bos", d.bos), ("eos", d.eos), ("unk", d.unk), ("pad", d.pad)] {
            if let id, id < 0 || Int(id) >= n { throw TokenizerError.invalid("\(name) id \(id) is outside the vocabulary of \(n)") }
        }
        let ignoreMerges: Bool
        var s = TokenStore(d.tokens)
        var table = MergeTable.Builder(capacityFor: d.merges.count)
        var bt = [Int32](repeating: -1, count: 256)
        switch d.model {
        case .bpe:
            let preName = d.pre ?? "default"
            guard preTokenizers[preName] != nil else { throw TokenizerError.unknownPreTokenizer(preName) }
            ignoreMerges = ["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"].contains(preName)
            // A byte without a token (some vocabularies drop bytes that never occur in UTF-8, e.g. 0xC0) gets
            // an id past the vocabulary: it never merges, and on output becomes the unknown token or nothing.
            for b in 0..<256 { bt[b] = s.appendExtra(utf8(byteToCodepoint[b])) }
            // "left right" → (left id, right id) → merged id, without a copy of the rule's bytes (left and right
            // are read in place from the string's UTF-8; the joined form goes through one reused buffer).
            var joined: [UInt8] = []
            joined.reserveCapacity(256)
            for (rank, rule) in d.merges.enumerated() {
                var m = rule
                m.withUTF8 { u in
                    guard u.count > 1, let sp = u[1...].firstIndex(of: 32) else { return }
                    let a = UnsafeBufferPointer(rebasing: u[..<sp]), b = UnsafeBufferPointer(rebasing: u[(sp + 1)...])
                    let l = s.appendExtra(a), r = s.appendExtra(b)
                    joined.removeAll(keepingCapacity: true)
                    joined.append(contentsOf: a); joined.append(contentsOf: b)
                    table.insert(l, r, rank: Int32(rank), merged: s.appendExtra(joined))
                }
            }
        case .spm:
            ignoreMerges = false
            for b in 0..<256 {
                let hex = "<0x" + String(b, radix: 16, uppercase: true).leftPad2() + ">"
                bt[b] = s.lookup(Array(hex.utf8)) ?? s.lookup([UInt8(b)]) ?? d.unk ?? -1
            }
        }
        var dec: [UInt8] = [], offs = [0]
        dec.reserveCapacity(s.bytes.count + 64)
        offs.reserveCapacity(n + 1)
        s.withTokenBytes { token in
            for id in 0..<n {
                let type = id < d.types.count ? TokenType(rawValue: d.types[id]) ?? .undefined : .normal
                Self.appendDecodedPiece(token(id), type: type, model: d.model, to: &dec)
                offs.append(dec.count)
            }
        }
        return Tables(settings: d.settings, vocabSize: n, scores: Table(d.scores), types: Table(d.types), store: Vocabulary(s),
                      merges: table.build(), ignoreMerges: ignoreMerges, byteTokens: bt, pieces: Table(dec), pieceOffsets: Table(offs))
    }

    /// The id of the vocabulary token whose text is exactly `text` (the first one if listed twice), if any.
    public func tokenID(_ text: String) -> Int32? {
        var t = text
        return t.withUTF8 { store.lookup($0) }.flatMap { Int($0) < vocabSize ? $0 : nil }
    }

    /// A token's text as the vocabulary stores it (GPT-2 code points, "▁" and <0xNN> included).
    public func tokenText(_ id: Int32) -> String {
        guard id >= 0, Int(id) < vocabSize else { return "" }
        return String(decoding: store.tokenBytes(id), as: UTF8.self)
    }

    public func type(of id: Int32) -> TokenType {
        guard id >= 0, Int(id) < types.count else { return .normal }
        return TokenType(rawValue: types[Int(id)]) ?? .undefined
    }

    // MARK: encode

    /// Text → ids. `addSpecial`: BOS/EOS as the vocabulary asks; `parseSpecial`: control tokens written in
    /// the text become their ids (user-defined tokens always do, as in llama.cpp).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var out: [Int32] = []
        var work = Workspace()
        let bytes = Array(text.utf8)
        if addSpecial && settings.addBOS, let bos = settings.bos { out.append(bos) }
        var prevSpecial = true
        for frag in partition(bytes, parseSpecial: parseSpecial) {
            switch frag {
            case .token(let id):
                out.append(id); prevSpecial = true
            case .text(let range):
                switch settings.model {
                case .bpe: encodeBPE(bytes[range], &out, &work)
                case .spm:
                    var t: [UInt8] = settings.addSpacePrefix && prevSpecial ? [0xE2, 0x96, 0x81] : []
                    for b in bytes[range] { if b == 32 { t += [0xE2, 0x96, 0x81] } else { t.append(b) } }
                    encodeSPM(t, &out, &work)
                }
                prevSpecial = false
            }
        }
        if addSpecial && settings.addEOS, let eos = settings.eos { out.append(eos) }
        return out
    }

    enum Fragment { case text(Range<Int>), token(Int32) }

    /// Cuts special tokens out of the text with llama.cpp's semantics (longest token first, each token's
    /// occurrences left to right, never overlapping an earlier cut) but in one pass over the text: all
    /// occurrences are found with a first-byte index, then accepted in llama.cpp's order.
    func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !bytes.isEmpty else { return [] }
        var found: [(special: Int, pos: Int)] = []
        for i in 0..<bytes.count {
            for k in specialsByFirstByte[Int(bytes[i])] {
                let sp = specials[k]
                if sp.control && !parseSpecial { continue }
                let n = sp.bytes.count
                if i + n <= bytes.count && bytes[i..<(i + n)].elementsEqual(sp.bytes) { found.append((k, i)) }
            }
        }
        guard !found.isEmpty else { return [.text(0..<bytes.count)] }
        found.sort { $0.special != $1.special ? $0.special < $1.special : $0.pos < $1.pos }
        // A cut is accepted unless it overlaps an earlier accepted one: bytes already cut are marked in a bitmap
        // (a sorted array with an insert per cut was quadratic: Gemma's whitespace tokens cut Shakespeare's plays
        // ~10⁵ times, and the inserts' memmove was half of the encode time).
        var taken = [UInt64](repeating: 0, count: bytes.count / 64 + 1)
        var accepted: [(start: Int, end: Int, id: Int32)] = []
        var k = 0
        while k < found.count {
            let sp = found[k].special
            var lastEnd = -1
            while k < found.count && found[k].special == sp {
                let pos = found[k].pos, end = pos + specials[sp].bytes.count
                k += 1
                guard pos >= lastEnd, !(pos..<end).contains(where: { taken[$0 >> 6] >> UInt64($0 & 63) & 1 != 0 }) else { continue }
                for i in pos..<end { taken[i >> 6] |= 1 << UInt64(i & 63) }
                accepted.append((pos, end, specials[sp].id))
                lastEnd = end
            }
        }
        accepted.sort { $0.start < $1.start }
        var frags: [Fragment] = []
        var at = 0
        for a in accepted {
            if a.start > at { frags.append(.text(at..<a.start)) }
            frags.append(.token(a.id))
            at = a.end
        }
        if at < bytes.count { frags.append(.text(at..<bytes.count)) }
        return frags
    }

    /// Reusable buffers for one encode call, and its cache of already-encoded words.
    struct Workspace {
        var cps: [UInt32] = [], offsets: [Int] = [], pieces: [Int] = [], scratch: [Int] = []
        var ids: [Int32] = [], prev: [Int] = [], next: [Int] = [], start: [Int] = [], end: [Int] = []
        var heap = BigramHeap()
        var mapped: [UInt8] = []
        var cache = WordCache()
    }

    func encodeBPE(_ text: ArraySlice<UInt8>, _ out: inout [Int32], _ w: inout Workspace) {
        let bytes = Array(text)
        bytes.withUnsafeBufferPointer { decodeUTF8($0, into: &w.cps, offsets: &w.offsets) }
        pre.split(w.cps, into: &w.pieces, scratch: &w.scratch)
        var cp = 0
        for len in w.pieces {
            let lo = w.offsets[cp], hi = w.offsets[cp + len]
            cp += len
            bpeWord(bytes, lo, hi, &out, &w)
        }
    }

    func bpeWord(_ bytes: [UInt8], _ lo: Int, _ hi: Int, _ out: inout [Int32], _ w: inout Workspace) {
        let hash = bytes.withUnsafeBufferPointer { fnv1a($0.baseAddress! + lo, hi - lo) }
        if w.cache.lookup(hash, bytes, lo, hi, into: &out) { return }
        let before = out.count
        bpeWordUncached(bytes, lo, hi, &out, &w)
        w.cache.insert(hash, bytes, lo, hi, out[before...])
    }

    func bpeWordUncached(_ bytes: [UInt8], _ lo: Int, _ hi: Int, _ out: inout [Int32], _ w: inout Workspace) {
        if ignoreMerges {
            w.mapped.removeAll(keepingCapacity: true)
            for i in lo..<hi { w.mapped += store.tokenBytes(byteTokens[Int(bytes[i])]) }
            if let id = store.lookup(w.mapped), Int(id) < vocabSize { out.append(id); return }
        }
        let n = hi - lo
        w.ids.removeAll(keepingCapacity: true); w.prev.removeAll(keepingCapacity: true); w.next.removeAll(keepingCapacity: true)
        w.start.removeAll(keepingCapacity: true); w.end.removeAll(keepingCapacity: true)
        for i in 0..<n {
            w.ids.append(byteTokens[Int(bytes[lo + i])]); w.prev.append(i - 1); w.next.append(i + 1 < n ? i + 1 : -1)
            w.start.append(lo + i); w.end.append(lo + i + 1)
        }
        w.heap.clear()
        @inline(__always) func push(_ l: Int, _ r: Int, _ w: inout Workspace) {
            guard l >= 0, r >= 0, let m = merges.find(w.ids[l], w.ids[r]) else { return }
            w.heap.push(Bigram(key: Float(m.rank), left: Int32(l), right: Int32(r), a: w.ids[l], b: w.ids[r], merged: m.merged))
        }
        for i in 1..<max(1, n) { push(i - 1, i, &w) }
        while let g = w.heap.pop() {
            let l = Int(g.left), r = Int(g.right)
            guard w.end[l] > w.start[l], w.end[r] > w.start[r], w.next[l] == r, w.ids[l] == g.a, w.ids[r] == g.b else { continue }
            w.ids[l] = g.merged
            w.end[l] = w.end[r]; w.start[r] = w.end[r]
            w.next[l] = w.next[r]
            if w.next[r] >= 0 { w.prev[w.next[r]] = l }
            push(w.prev[l], l, &w)
            push(l, w.next[l], &w)
        }
        var i = n > 0 ? 0 : -1
        while i >= 0 {
            if w.end[i] > w.start[i] {
                let id = w.ids[i]
                if Int(id) < vocabSize { out.append(id) } else {
                    for b in w.start[i]..<w.end[i] {
                        let t = byteTokens[Int(bytes[b])]
                        if Int(t) < vocabSize { out.append(t) } else if let unk = settings.unk { out.append(unk) }
                    }
                }
            }
            i = w.next[i]
        }
    }

    func encodeSPM(_ text: [UInt8], _ out: inout [Int32], _ w: inout Workspace) {
        text.withUnsafeBufferPointer { decodeUTF8($0, into: &w.cps, offsets: &w.offsets) }
        let n = w.cps.count
        w.prev.removeAll(keepingCapacity: true); w.next.removeAll(keepingCapacity: true)
        w.start.removeAll(keepingCapacity: true); w.end.removeAll(keepingCapacity: true)
        for i in 0..<n { w.prev.append(i - 1); w.next.append(i + 1 < n ? i + 1 : -1); w.start.append(w.offsets[i]); w.end.append(w.offsets[i + 1]) }
        w.heap.clear()
        text.withUnsafeBufferPointer { tb in
            func tryAdd(_ l: Int, _ r: Int, _ w: inout Workspace) {
                guard l >= 0, r >= 0 else { return }
                let s = UnsafeBufferPointer(rebasing: tb[w.start[l]..<w.end[r]])
                guard let id = store.lookup(s), Int(id) < vocabSize else { return }
                let score = scores.isEmpty ? 0 : scores[Int(id)]
                w.heap.push(Bigram(key: -score, left: Int32(l), right: Int32(r), a: Int32(s.count), b: 0, merged: id))
            }
            for i in 1..<max(1, n) { tryAdd(i - 1, i, &w) }
            while let g = w.heap.pop() {
                let l = Int(g.left), r = Int(g.right)
                let ln = w.end[l] - w.start[l], rn = w.end[r] - w.start[r]
                guard ln > 0, rn > 0, ln + rn == Int(g.a) else { continue }
                w.end[l] = w.end[r]; w.start[r] = w.end[r]
                w.next[l] = w.next[r]
                if w.next[r] >= 0 { w.prev[w.next[r]] = l }
                tryAdd(w.prev[l], l, &w)
                tryAdd(l, w.next[l], &w)
            }
            var i = n > 0 ? 0 : -1
            while i >= 0 {
                if w.end[i] > w.start[i] {
                    let s = UnsafeBufferPointer(rebasing: tb[w.start[i]..<w.end[i]])
                    if let id = store.lookup(s), Int(id) < vocabSize { out.append(id) } else { for b in s where byteTokens[Int(b)] >= 0 { out.append(byteTokens[Int(b)]) } }
                }
                i = w.next[i]
            }
        }
    }

    // MARK: decode

    /// The bytes a token stands for (control/unknown tokens give their text only when `special`), as a copy.
    public func pieceBytes(_ id: Int32, special: Bool = false) -> ArraySlice<UInt8> { ArraySlice(pieceSpan(id, special: special)) }

    /// `pieceBytes` in place in the table built once at init (valid while the tokenizer lives): decoding during
    /// generation does no string work and no allocation per token.
    @inline(__always) func pieceSpan(_ id: Int32, special: Bool) -> UnsafeBufferPointer<UInt8> {
        guard id >= 0, Int(id) < vocabSize else { return UnsafeBufferPointer(start: nil, count: 0) }
        switch type(of: id) {
        case .control, .unknown: return special ? store.tokenBytes(id) : UnsafeBufferPointer(start: nil, count: 0)
        default: return span(pieces, pieceOffsets, Int(id))
        }
    }

    /// What a non-control token decodes to: byte tokens <0xNN> → the byte, SPM "▁" → space, byte-level BPE
    /// code points → their bytes (GPT-2's map), user-defined tokens → their text.
    /// `decodedPiece` appended to `out`. SPM pieces and byte-level BPE tokens of valid UTF-8 are decoded here without
    /// building a String or an array (the common case: 50k–260k tokens at every model open); anything else takes
    /// `decodedPiece`.
    static func appendDecodedPiece(_ raw: UnsafeBufferPointer<UInt8>, type: TokenType, model: TokenizerData.Model, to out: inout [UInt8]) {
        guard type != .userDefined, type != .byte else { out += decodedPiece(raw, type: type, model: model); return }
        if model == .spm { return appendSPMPiece(raw, to: &out) }
        let start = out.count
        var i = raw.startIndex
        while i < raw.endIndex {
            let b0 = UInt32(raw[i])
            var cp = b0, len = 1
            @inline(__always) func cont(_ k: Int) -> UInt32? {
                guard i + k < raw.endIndex, raw[i + k] & 0xC0 == 0x80 else { return nil }
                return UInt32(raw[i + k] & 0x3F)
            }
            if b0 >= 0x80 {
                var valid = false
                if b0 & 0xE0 == 0xC0, let c1 = cont(1) {
                    cp = (b0 & 0x1F) << 6 | c1; len = 2; valid = cp >= 0x80
                } else if b0 & 0xF0 == 0xE0, let c1 = cont(1), let c2 = cont(2) {
                    cp = (b0 & 0x0F) << 12 | c1 << 6 | c2; len = 3; valid = cp >= 0x800 && !(0xD800...0xDFFF).contains(cp)
                } else if b0 & 0xF8 == 0xF0, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
                    cp = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3; len = 4; valid = (0x10000...0x10FFFF).contains(cp)
                }
                if !valid {
                    out.removeSubrange(start...)
                    out += decodedPiece(raw, type: type, model: model)
                    return
                }
            }
            if cp < UInt32(codepointToByte.count), codepointToByte[Int(cp)] >= 0 {
                out.append(UInt8(codepointToByte[Int(cp)]))
            } else {
                out.append(contentsOf: raw[i..<(i + len)])
            }
            i += len
        }
    }

    /// An SPM piece's text: "▁" (U+2581) stands for a space.
    static func appendSPMPiece(_ raw: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        guard let p = raw.baseAddress else { return }
        let n = raw.count
        var i = 0, run = 0  // bytes run..<i are copied as they are
        while i < n {
            if p[i] == 0xE2 && i + 2 < n && p[i + 1] == 0x96 && p[i + 2] == 0x81 {
                out.append(contentsOf: UnsafeBufferPointer(start: p + run, count: i - run))
                out.append(32)
                i += 3; run = i
            } else {
                i += 1
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(start: p + run, count: n - run))
    }

    static func decodedPiece(_ raw: UnsafeBufferPointer<UInt8>, type: TokenType, model: TokenizerData.Model) -> [UInt8] {
        switch type {
        case .userDefined: return Array(raw)
        case .byte:
            if raw.count == 6, let v = UInt8(String(decoding: raw.dropFirst(3).prefix(2), as: UTF8.self), radix: 16) { return [v] }
            return Array(raw)
        default:
            var out: [UInt8] = []
            switch model {
            case .spm:
                appendSPMPiece(raw, to: &out)
            case .bpe:
                for s in String(decoding: raw, as: UTF8.self).unicodeScalars {
                    if s.value < UInt32(codepointToByte.count), codepointToByte[Int(s.value)] >= 0 {
                        out.append(UInt8(codepointToByte[Int(s.value)]))
                    } else {
                        out += Array(String(s).utf8)
                    }
                }
            }
            return out
        }
    }

    /// ids → bytes (and text). For SPM the space a leading "▁" stands for is dropped, as llama.cpp does.
    public func decodeBytes(_ ids: [Int32], special: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids { out += pieceSpan(id, special: special) }
        if settings.model == .spm && settings.addSpacePrefix, out.first == 32, let first = ids.first, type(of: first) == .normal {
            out.removeFirst()
        }
        return out
    }

    public func decode(_ ids: [Int32], special: Bool = false) -> String { String(decoding: decodeBytes(ids, special: special), as: UTF8.self) }
}

/// Words already encoded in this call (text repeats its words), keyed by the word's bytes. Open addressing
/// over flat arrays; stops growing at `limit` words.
struct WordCache {
    private var slots = [Int32](repeating: -1, count: 1 << 15)
    private var hashes: [UInt64] = [], keyStart: [Int] = [0], keys: [UInt8] = [], idStart: [Int] = [0], ids: [Int32] = []
    private let limit = 1 << 14

    func lookup(_ h: UInt64, _ b: [UInt8], _ lo: Int, _ hi: Int, into out: inout [Int32]) -> Bool {
        var i = Int(truncatingIfNeeded: h) & (slots.count - 1)
        while slots[i] >= 0 {
            let e = Int(slots[i])
            if hashes[e] == h && keyStart[e + 1] - keyStart[e] == hi - lo && keys[keyStart[e]..<keyStart[e + 1]].elementsEqual(b[lo..<hi]) {
                out.append(contentsOf: ids[idStart[e]..<idStart[e + 1]])
                return true
            }
            i = (i + 1) & (slots.count - 1)
        }
        return false
    }

    mutating func insert(_ h: UInt64, _ b: [UInt8], _ lo: Int, _ hi: Int, _ result: ArraySlice<Int32>) {
        guard hashes.count < limit else { return }
        var i = Int(truncatingIfNeeded: h) & (slots.count - 1)
        while slots[i] >= 0 { i = (i + 1) & (slots.count - 1) }
        slots[i] = Int32(hashes.count)
        hashes.append(h)
        keys.append(contentsOf: b[lo..<hi]); keyStart.append(keys.count)
        ids.append(contentsOf: result); idStart.append(ids.count)
    }
}

/// A merge candidate, ordered by `key` (lowest first: BPE pushes the merge rank, SPM the negated score) and
/// then by position (leftmost first), as llama.cpp's two bigram queues order them.
struct Bigram: HeapOrdered {
    var key: Float
    var left: Int32, right: Int32
    var a: Int32, b: Int32
    var merged: Int32
    @inline(__always) static func before(_ x: Bigram, _ y: Bigram) -> Bool { x.key != y.key ? x.key < y.key : x.left < y.left }
}

typealias BigramHeap = BinaryHeap<Bigram>

protocol HeapOrdered { static func before(_ x: Self, _ y: Self) -> Bool }

/// Binary heap over a reusable array; `pop` returns the element that comes first by `before`.
struct BinaryHeap<Element: HeapOrdered> {
    private var items: [Element] = []
    mutating func clear() { items.removeAll(keepingCapacity: true) }
    mutating func push(_ g: Element) {
        items.append(g)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Element.before(items[i], items[p]) else { break }
            items.swapAt(i, p); i = p
        }
    }
    mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Element.before(items[l], items[m]) { m = l }
                if r < items.count && Element.before(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m); i = m
            }
        }
        return top
    }
}

extension String {
    func leftPad2() -> String { count >= 2 ? self : "0" + self }
}

// MARK: parallel encode and streaming decode

extension Tokenizer {
    /// Encodes long text on every thread of `pool`: the text is cut after a newline that sits between two
    /// visible ASCII characters ("x\nY") — a point no byte-level pre-tokenizer ske supports lets a piece
    /// cross (a lone newline is always its own piece there, whatever follows) — and
    /// the chunks are tokenized independently. Gives the same ids as `encode` (a test checks it on the
    /// Shakespeare corpus). SPM vocabularies have no pre-tokenizer, so they are encoded on one thread.
    public func encodeParallel(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false, pool: ThreadPool) -> [Int32] {
        let bytes = Array(text.utf8)
        let parts = pool.threadCount
        guard settings.model == .bpe, parts > 1, bytes.count > 1 << 16 else { return encode(text, addSpecial: addSpecial, parseSpecial: parseSpecial) }
        var cuts = [0]
        for p in 1..<parts {
            var i = max(cuts.last!, bytes.count * p / parts)
            while i < bytes.count - 1 && !(i > 0 && bytes[i] == 10 && bytes[i - 1] > 32 && bytes[i - 1] < 127 && bytes[i + 1] > 32 && bytes[i + 1] < 127) { i += 1 }
            if i < bytes.count - 1 { cuts.append(i + 1) }
        }
        cuts.append(bytes.count)
        var results = [[Int32]](repeating: [], count: cuts.count - 1)
        results.withUnsafeMutableBufferPointer { res in
            pool.run { t, n in
                var c = t
                while c < cuts.count - 1 {
                    let chunk = String(decoding: bytes[cuts[c]..<cuts[c + 1]], as: UTF8.self)
                    res[c] = encode(chunk, addSpecial: false, parseSpecial: parseSpecial)
                    c += n
                }
            }
        }
        var out: [Int32] = []
        if addSpecial && settings.addBOS, let bos = settings.bos { out.append(bos) }
        for r in results { out += r }
        if addSpecial && settings.addEOS, let eos = settings.eos { out.append(eos) }
        return out
    }
}

/// Turns ids into text as they are generated, emitting a multi-byte character only once all of its bytes
/// have arrived (a token may end in the middle of one).
public struct StreamingDecoder {
    let tokenizer: Tokenizer
    var pending: [UInt8] = []
    var atStart = true
    public let special: Bool

    public init(_ tokenizer: Tokenizer, special: Bool = false) { self.tokenizer = tokenizer; self.special = special }

    /// The text that became complete with this token ("" while a character is still incomplete).
    public mutating func push(_ id: Int32) -> String {
        var bytes = tokenizer.pieceSpan(id, special: special)
        if atStart && tokenizer.settings.model == .spm && tokenizer.settings.addSpacePrefix && tokenizer.type(of: id) == .normal && bytes.first == 32 {
            bytes = UnsafeBufferPointer(rebasing: bytes.dropFirst())
        }
        if !bytes.isEmpty { atStart = false }
        pending += bytes
        // Emit up to the last complete UTF-8 sequence.
        var end = pending.count
        var back = 0
        while back < min(4, pending.count) {
            let b = pending[pending.count - 1 - back]
            if b & 0xC0 != 0x80 {
                let need = b < 0x80 ? 1 : b & 0xE0 == 0xC0 ? 2 : b & 0xF0 == 0xE0 ? 3 : b & 0xF8 == 0xF0 ? 4 : 1
                if need > back + 1 { end = pending.count - 1 - back }
                break
            }
            back += 1
        }
        let out = String(decoding: pending[0..<end], as: UTF8.self)
        pending.removeFirst(end)
        return out
    }

    /// Whatever is left (an incomplete character is emitted as U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}
