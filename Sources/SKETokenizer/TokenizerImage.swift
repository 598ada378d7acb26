// The tokenizer image: a built tokenizer's tables (vocabulary bytes and hash slots, merge table, decoded pieces,
// byte tokens, scores, types) written out as flat little-endian arrays, so that a `.bump` file opens its tokenizer
// with a few copies instead of hashing 50k–260k strings and resolving every merge rule again.
// Layout (every array 8-byte aligned from the image's start; docs/bump-format.md):
//   "SKETOKN\0", u32 image version, u32 model (0 gpt2, 1 llama), u32 flags, u32 vocabulary size,
//   i32 bos, eos, unk, pad (−1: none), then arrays as u64 count + elements + zero padding to 8:
//   pre-tokenizer name (u8), scores (f32), types (i32), store bytes (u8), store offsets (i64), store slots (i32),
//   merge keys (u64), merge values (i32 rank, i32 merged id; count = pairs), byte tokens (i32 × 256),
//   pieces (u8), piece offsets (i64).
// Reading checks every invariant the lookups rely on (in bounds ids, monotonic offsets, a free slot in each hash
// table), so a damaged image is a TokenizerError, never a trap or an endless probe.

import SKECore

extension Tokenizer {
    static let imageMagic: [UInt8] = Array("SKETOKN\0".utf8)
    /// Bumped whenever the tables' meaning changes (hash function, piece decoding, …): an image of another version
    /// is not read (`init(image:)` returns nil and the caller builds from the metadata).
    static let imageVersion: UInt32 = 1

    private struct Flags: OptionSet { let rawValue: UInt32
        static let addBOS = Flags(rawValue: 1), addEOS = Flags(rawValue: 2), addSpacePrefix = Flags(rawValue: 4)
        static let ignoreMerges = Flags(rawValue: 8), hasPre = Flags(rawValue: 16)
    }

    /// This tokenizer's tables as an image (see the file comment).
    public func image() -> [UInt8] {
        var w = ImageWriter()
        w.bytes += Self.imageMagic
        w.put(Self.imageVersion)
        w.put(UInt32(settings.model == .bpe ? 0 : 1))
        var flags: Flags = []
        if settings.addBOS { flags.insert(.addBOS) }
        if settings.addEOS { flags.insert(.addEOS) }
        if settings.addSpacePrefix { flags.insert(.addSpacePrefix) }
        if ignoreMerges { flags.insert(.ignoreMerges) }
        if settings.pre != nil { flags.insert(.hasPre) }
        w.put(flags.rawValue)
        w.put(UInt32(vocabSize))
        for id in [settings.bos, settings.eos, settings.unk, settings.pad] { w.put(id ?? -1) }
        w.array(Array((settings.pre ?? "").utf8))
        w.array(scores); w.array(types)
        w.array(store.bytes); w.array(store.offsets.map(Int64.init)); w.array(store.slots)
        w.array(merges.keys)
        w.array(merges.values.flatMap { [$0.rank, $0.merged] })
        w.array(byteTokens)
        w.array(pieces); w.array(pieceOffsets.map(Int64.init))
        return w.bytes
    }

    /// Reads an image back. nil when it was written by another image version (build from the metadata instead);
    /// `TokenizerError.invalid` when it is damaged.
    public convenience init?(image: UnsafeRawBufferPointer) throws {
        var r = ImageReader(bytes: image)
        guard try r.bytes(8) == Self.imageMagic else { throw TokenizerError.invalid("tokenizer image: bad magic") }
        guard try r.scalar(UInt32.self) == Self.imageVersion else { return nil }
        let rawModel = try r.scalar(UInt32.self)
        guard rawModel < 2 else { throw TokenizerError.invalid("tokenizer image: unknown model \(rawModel)") }
        let flags = Flags(rawValue: try r.scalar(UInt32.self))
        let n = Int(try r.scalar(UInt32.self))
        var ids: [Int32?] = []
        for _ in 0..<4 { let v = try r.scalar(Int32.self); ids.append(v < 0 ? nil : v) }
        let pre = String(decoding: try r.array(UInt8.self), as: UTF8.self)
        let settings = TokenizerSettings(model: rawModel == 0 ? .bpe : .spm, pre: flags.contains(.hasPre) ? pre : nil,
                                         bos: ids[0], eos: ids[1], unk: ids[2], pad: ids[3],
                                         addBOS: flags.contains(.addBOS), addEOS: flags.contains(.addEOS),
                                         addSpacePrefix: flags.contains(.addSpacePrefix))
        let scores = try r.array(Float.self), types = try r.array(Int32.self)
        let storeBytes = try r.array(UInt8.self)
        let storeOffsets = try r.array(Int64.self).map { Int(truncatingIfNeeded: $0) }
        let slots = try r.array(Int32.self)
        let keys = try r.array(UInt64.self), values = try r.array(Int32.self)
        let byteTokens = try r.array(Int32.self)
        let pieces = try r.array(UInt8.self)
        let pieceOffsets = try r.array(Int64.self).map { Int(truncatingIfNeeded: $0) }

        func check(_ ok: Bool, _ what: String) throws { if !ok { throw TokenizerError.invalid("tokenizer image: \(what)") } }
        func monotonic(_ o: [Int], end: Int) -> Bool {
            guard o.first == 0, o.last == end else { return false }
            for i in 1..<o.count where o[i] < o[i - 1] { return false }
            return true
        }
        let stored = storeOffsets.count - 1
        try check(n > 0 && stored >= n, "vocabulary of \(n) with \(stored) stored strings")
        try check(ids.allSatisfy { $0.map { Int($0) < n } ?? true }, "a special id is outside the vocabulary")
        try check(scores.isEmpty || scores.count == n, "\(scores.count) scores for \(n) tokens")
        try check(types.isEmpty || types.count == n, "\(types.count) types for \(n) tokens")
        try check(monotonic(storeOffsets, end: storeBytes.count), "string offsets out of order or past the bytes")
        try check(slots.count.nonzeroBitCount == 1 && slots.count > stored, "string table of \(slots.count) slots")
        try check(slots.allSatisfy { $0 >= -1 && Int($0) < stored } && slots.contains(-1), "string slots out of range or full")
        try check(keys.count.nonzeroBitCount == 1 && values.count == 2 * keys.count, "merge table of \(keys.count) keys, \(values.count) values")
        try check(keys.contains(MergeTable.empty), "merge table full")
        for i in 0..<keys.count where keys[i] != MergeTable.empty {
            try check(values[2 * i + 1] >= 0 && Int(values[2 * i + 1]) < stored, "merge result out of range")
        }
        try check(byteTokens.count == 256 && byteTokens.allSatisfy { $0 >= -1 && Int($0) < stored }, "byte tokens")
        try check(pieceOffsets.count == n + 1 && monotonic(pieceOffsets, end: pieces.count), "piece offsets")

        let pairs = (0..<keys.count).map { (rank: values[2 * $0], merged: values[2 * $0 + 1]) }
        try self.init(Tables(settings: settings, vocabSize: n, scores: scores, types: types,
                             store: TokenStore(bytes: storeBytes, offsets: storeOffsets, slots: slots),
                             merges: MergeTable(keys: keys, values: pairs), ignoreMerges: flags.contains(.ignoreMerges),
                             byteTokens: byteTokens, pieces: pieces, pieceOffsets: pieceOffsets))
    }
}

/// Appends scalars and counted arrays, each array padded to 8 bytes.
private struct ImageWriter {
    var bytes: [UInt8] = []
    mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func array<T>(_ a: [T]) {
        put(UInt64(a.count))
        a.withUnsafeBytes { bytes += $0 }   // little-endian hosts only (as the whole engine)
        while bytes.count % 8 != 0 { bytes.append(0) }
    }
}

/// Reads what ImageWriter wrote, every length checked against what is left.
private struct ImageReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n <= bytes.count - position else { throw TokenizerError.invalid("tokenizer image truncated at byte \(position)") }
        defer { position += n }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)]))
    }

    mutating func scalar<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard MemoryLayout<T>.size <= bytes.count - position else { throw TokenizerError.invalid("tokenizer image truncated at byte \(position)") }
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// A counted array, copied out of the image in one move.
    mutating func array<T: BitwiseCopyable>(_: T.Type) throws -> [T] {
        let count = try scalar(UInt64.self)
        let size = MemoryLayout<T>.stride
        guard count <= UInt64((bytes.count - position) / size) else {
            throw TokenizerError.invalid("tokenizer image: an array of \(count) elements runs past its end")
        }
        let n = Int(count)
        let out = [T](unsafeUninitializedCapacity: n) { buf, initialized in
            if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: bytes.baseAddress! + position, byteCount: n * size) }
            initialized = n
        }
        position += (n * size + 7) / 8 * 8
        if position > bytes.count { position = bytes.count }
        return out
    }
}
