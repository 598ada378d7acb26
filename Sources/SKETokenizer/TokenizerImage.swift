// The tokenizer image: a built tokenizer's tables (vocabulary bytes and hash slots, merge table, decoded pieces,
// byte tokens, scores, types) written out as flat little-endian arrays, so that a `.bump` file opens its tokenizer
// in place (the tables stay in the mapping) instead of hashing 50k–260k strings and resolving every merge rule again.
// Layout (every array 8-byte aligned from the image's start; docs/bump-format.md):
//   "SKETOKN\0", u32 image version, u32 model (0 gpt2, 1 llama), u32 flags, u32 vocabulary size,
//   i32 bos, eos, unk, pad (−1: none), then arrays as u64 count + elements + zero padding to 8:
//   pre-tokenizer name (u8), scores (f32), types (i32), store bytes (u8), store offsets (i64), store slots (i32),
//   merge keys (u64), merge values (i32 rank + i32 merged id, one 8-byte pair each), byte tokens (i32 × 256),
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
        w.array(scores.buffer); w.array(types.buffer)
        w.array(store.bytes.buffer); w.array(store.offsets.buffer); w.array(store.slots.buffer)
        w.array(merges.keys.buffer); w.array(merges.values.buffer)
        byteTokens.withUnsafeBufferPointer { w.array($0) }
        w.array(pieces.buffer); w.array(pieceOffsets.buffer)
        return w.bytes
    }

    /// Reads an image back. With an `owner` that keeps `image` alive (a mapped file), the tables stay where they are
    /// (nothing copied); without one they are copied. nil when it was written by another image version (build from
    /// the metadata instead); `TokenizerError.invalid` when it is damaged.
    public convenience init?(image: UnsafeRawBufferPointer, owner: AnyObject? = nil) throws {
        var r = ImageReader(bytes: image, owner: owner)
        guard try r.bytes(8) == Self.imageMagic else { throw TokenizerError.invalid("tokenizer image: bad magic") }
        guard try r.scalar(UInt32.self) == Self.imageVersion else { return nil }
        let rawModel = try r.scalar(UInt32.self)
        guard rawModel < 2 else { throw TokenizerError.invalid("tokenizer image: unknown model \(rawModel)") }
        let flags = Flags(rawValue: try r.scalar(UInt32.self))
        let n = Int(try r.scalar(UInt32.self))
        var ids: [Int32?] = []
        for _ in 0..<4 { let v = try r.scalar(Int32.self); ids.append(v < 0 ? nil : v) }
        let pre = String(decoding: try r.array(UInt8.self).elements(), as: UTF8.self)
        let settings = TokenizerSettings(model: rawModel == 0 ? .bpe : .spm, pre: flags.contains(.hasPre) ? pre : nil,
                                         bos: ids[0], eos: ids[1], unk: ids[2], pad: ids[3],
                                         addBOS: flags.contains(.addBOS), addEOS: flags.contains(.addEOS),
                                         addSpacePrefix: flags.contains(.addSpacePrefix))
        let scores = try r.array(Float.self), types = try r.array(Int32.self)
        let storeBytes = try r.array(UInt8.self)
        let storeOffsets = try r.array(Int.self)
        let slots = try r.array(Int32.self)
        let keys = try r.array(UInt64.self), values = try r.array(MergeTable.Value.self)
        let byteTokens = try r.array(Int32.self).elements()
        let pieces = try r.array(UInt8.self)
        let pieceOffsets = try r.array(Int.self)

        func check(_ ok: Bool, _ what: String) throws { if !ok { throw TokenizerError.invalid("tokenizer image: \(what)") } }
        func monotonic(_ o: Table<Int>, end: Int) -> Bool {
            guard o.count > 0, o[0] == 0, o[o.count - 1] == end else { return false }
            var ok = true
            for i in 1..<o.count { ok = ok && o[i] >= o[i - 1] }
            return ok
        }
        func inRange(_ t: Table<Int32>, below limit: Int) -> (ok: Bool, hasFree: Bool) {
            var ok = true, free = false
            for i in 0..<t.count { let v = t[i]; ok = ok && v >= -1 && Int(v) < limit; free = free || v == -1 }
            return (ok, free)
        }
        let stored = storeOffsets.count - 1
        try check(n > 0 && stored >= n, "vocabulary of \(n) with \(stored) stored strings")
        try check(ids.allSatisfy { $0.map { Int($0) < n } ?? true }, "a special id is outside the vocabulary")
        try check(scores.isEmpty || scores.count == n, "\(scores.count) scores for \(n) tokens")
        try check(types.isEmpty || types.count == n, "\(types.count) types for \(n) tokens")
        try check(monotonic(storeOffsets, end: storeBytes.count), "string offsets out of order or past the bytes")
        try check(slots.count.nonzeroBitCount == 1 && slots.count > stored, "string table of \(slots.count) slots")
        let slotCheck = inRange(slots, below: stored)
        try check(slotCheck.ok && slotCheck.hasFree, "string slots out of range or full")
        try check(keys.count.nonzeroBitCount == 1 && values.count == keys.count, "merge table of \(keys.count) keys, \(values.count) values")
        var mergesOK = true, mergeFree = false
        for i in 0..<keys.count {
            let empty = keys[i] == MergeTable.empty, m = values[i].merged
            mergeFree = mergeFree || empty
            mergesOK = mergesOK && (empty || (m >= 0 && Int(m) < stored))
        }
        try check(mergeFree, "merge table full")
        try check(mergesOK, "merge result out of range")
        // BPE maps every byte to a string (−1 would be emitted as an id); SPM may lack a byte's <0xNN> token.
        let lowest: Int32 = rawModel == 0 ? 0 : -1
        try check(byteTokens.count == 256 && byteTokens.allSatisfy { $0 >= lowest && Int($0) < stored }, "byte tokens")
        try check(pieceOffsets.count == n + 1 && monotonic(pieceOffsets, end: pieces.count), "piece offsets")

        try self.init(Tables(settings: settings, vocabSize: n, scores: scores, types: types,
                             store: Vocabulary(bytes: storeBytes, offsets: storeOffsets, slots: slots),
                             merges: MergeTable(keys: keys, values: values), ignoreMerges: flags.contains(.ignoreMerges),
                             byteTokens: byteTokens, pieces: pieces, pieceOffsets: pieceOffsets))
    }
}

/// Appends scalars and counted arrays, each array padded to 8 bytes.
private struct ImageWriter {
    var bytes: [UInt8] = []
    mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func array<T>(_ a: UnsafeBufferPointer<T>) {
        put(UInt64(a.count))
        bytes += UnsafeRawBufferPointer(a)   // little-endian hosts only (as the whole engine)
        while bytes.count % 8 != 0 { bytes.append(0) }
    }
    mutating func array<T>(_ a: [T]) { a.withUnsafeBufferPointer { array($0) } }
}

/// Reads what ImageWriter wrote, every length checked against what is left.
private struct ImageReader {
    let bytes: UnsafeRawBufferPointer
    let owner: AnyObject?
    var position = 0
    init(bytes: UnsafeRawBufferPointer, owner: AnyObject?) { self.bytes = bytes; self.owner = owner }

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

    /// A counted array: borrowed in place when there is an owner and the elements are aligned, else copied.
    mutating func array<T: BitwiseCopyable>(_: T.Type) throws -> Table<T> {
        let count = try scalar(UInt64.self)
        let size = MemoryLayout<T>.stride
        guard count <= UInt64((bytes.count - position) / size) else {
            throw TokenizerError.invalid("tokenizer image: an array of \(count) elements runs past its end")
        }
        let n = Int(count)
        let start = bytes.baseAddress! + position
        let out: Table<T>
        if let owner, Int(bitPattern: start) % MemoryLayout<T>.alignment == 0 {
            out = Table(borrowing: UnsafeBufferPointer(start: start.assumingMemoryBound(to: T.self), count: n), owner: owner)
        } else {
            out = Table([T](unsafeUninitializedCapacity: n) { buf, initialized in
                if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: start, byteCount: n * size) }
                initialized = n
            })
        }
        position += (n * size + 7) / 8 * 8
        if position > bytes.count { position = bytes.count }
        return out
    }
}
