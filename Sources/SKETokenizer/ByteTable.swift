// Flat hash tables for the tokenizer's hot path: byte strings → token id, and (left id, right id) → merge.
// Open addressing with linear probing over power-of-two arrays; keys are compared against the bytes stored
// once in the vocabulary's flat byte buffer. No String keys, no per-lookup allocation.

import SKECore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FNV-1a over bytes.
@inline(__always) func fnv1a(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
    return h
}

/// Token byte strings stored back to back; `lookup(bytes)` finds an id.
struct TokenStore {
    private(set) var bytes: [UInt8] = []
    private(set) var offsets: [Int] = [0]
    private(set) var slots: [Int32] = []
    private var mask = 0

    var count: Int { offsets.count - 1 }

    init(_ tokens: [String]) {
        var total = 0
        for t in tokens { total += t.utf8.count }
        bytes.reserveCapacity(2 * total + 1024)
        offsets.reserveCapacity(2 * tokens.count + 257)
        for t in tokens { bytes.append(contentsOf: t.utf8); offsets.append(bytes.count) }
        var cap = 16
        while cap < 2 * max(1, tokens.count) + 16 { cap <<= 1 }
        rehash(capacity: cap)
    }

    /// Rebuilds the slot table at `capacity` (a power of two) from every stored string. Runs at every model open
    /// (50k–260k tokens into a table of up to 2 MiB), where each insert was a cache miss waited on in turn: the hashes
    /// are computed first (one sequential pass) and each insert prefetches the slot of the one 16 ahead.
    private mutating func rehash(capacity: Int) {
        mask = capacity - 1
        let mask = mask, n = count, ahead = 16
        slots = [Int32](unsafeUninitializedCapacity: capacity) { sl, initialized in
            sl.initialize(repeating: -1)
            initialized = capacity
            bytes.withUnsafeBufferPointer { by in
                offsets.withUnsafeBufferPointer { of in
                    let base = by.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    let home = [Int](unsafeUninitializedCapacity: n) { h, c in
                        for id in 0..<n { h[id] = Self.home(base, of, id, mask) }
                        c = n
                    }
                    let slotBase = UnsafeRawPointer(sl.baseAddress!)
                    for id in 0..<n {
                        if id + ahead < n { corePrefetch(slotBase + 4 * home[id + ahead]) }
                        Self.place(id, from: home[id], sl, of, base, mask)
                    }
                }
            }
        }
    }

    /// The slot where id's bytes start probing.
    @inline(__always) private static func home(_ base: UnsafePointer<UInt8>, _ of: UnsafeBufferPointer<Int>, _ id: Int, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: fnv1a(base + of[id], of[id + 1] - of[id])) & mask
    }

    /// Puts id in the first free slot from `slot` on (linear probing), unless a stored string with the same bytes is
    /// already there: the first id wins for duplicates, as llama.cpp's map keeps the first. Over raw buffers: no
    /// uniqueness or bounds checks on the arrays.
    @inline(__always) private static func place(_ id: Int, from slot: Int, _ sl: UnsafeMutableBufferPointer<Int32>, _ of: UnsafeBufferPointer<Int>,
                                                _ base: UnsafePointer<UInt8>, _ mask: Int) {
        let lo = of[id], len = of[id + 1] - lo
        var i = slot
        while true {
            let other = Int(sl[i])
            if other < 0 { sl[i] = Int32(id); return }
            let a = of[other]
            if of[other + 1] - a == len && memcmp(base + a, base + lo, len) == 0 { return }
            i = (i + 1) & mask
        }
    }

    /// Inserts id's bytes as a key (see `place`).
    private mutating func insertSlot(_ id: Int32) {
        let mask = mask
        bytes.withUnsafeBufferPointer { by in
            offsets.withUnsafeBufferPointer { of in
                slots.withUnsafeMutableBufferPointer { sl in
                    let base = by.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    Self.place(Int(id), from: Self.home(base, of, Int(id), mask), sl, of, base, mask)
                }
            }
        }
    }

    /// Appends a string that is not a vocabulary token (a merge intermediate); returns its id (≥ vocab size).
    mutating func appendExtra(_ s: [UInt8]) -> Int32 { s.withUnsafeBufferPointer { appendExtra($0) } }

    /// The same for bytes outside this store (e.g. inside a merge rule's string).
    mutating func appendExtra(_ s: UnsafeBufferPointer<UInt8>) -> Int32 {
        if let id = lookup(s) { return id }
        bytes.append(contentsOf: s)
        offsets.append(bytes.count)
        let id = Int32(count - 1)
        if 2 * count > slots.count { rehash(capacity: slots.count * 2) } else { insertSlot(id) }
        return id
    }

    func lookup(_ p: UnsafeBufferPointer<UInt8>) -> Int32? {
        slots.withUnsafeBufferPointer { sl in
            offsets.withUnsafeBufferPointer { of in
                bytes.withUnsafeBufferPointer { by in
                    probeStrings(by.baseAddress ?? UnsafePointer(bitPattern: 1)!, of.baseAddress!, count, sl.baseAddress!, mask, p)
                }
            }
        }
    }

    func lookup(_ s: [UInt8]) -> Int32? { s.withUnsafeBufferPointer { lookup($0) } }

    /// body(the bytes of tokens 0..<n, one buffer per id), over the stored buffer without slicing arrays.
    func withTokenBytes<R>(_ body: (_ token: (Int) -> UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { by in
            try offsets.withUnsafeBufferPointer { of in
                let base = by.baseAddress ?? UnsafePointer(bitPattern: 1)!
                return try body { id in UnsafeBufferPointer(start: base + of[id], count: of[id + 1] - of[id]) }
            }
        }
    }
}

/// The string id of `p`'s bytes in an open-addressing table over strings stored back to back (offsets of `count`
/// strings, slots a power of two `mask + 1` long holding −1 or an id, at least one −1). The empty string, which
/// hashes like any other, is found by a scan.
@inline(__always) func probeStrings(_ base: UnsafePointer<UInt8>, _ of: UnsafePointer<Int>, _ count: Int, _ sl: UnsafePointer<Int32>,
                                    _ mask: Int, _ p: UnsafeBufferPointer<UInt8>) -> Int32? {
    guard let key = p.baseAddress, p.count > 0 else {
        for id in 0..<count where of[id] == of[id + 1] { return Int32(id) }
        return nil
    }
    let n = p.count
    var i = Int(truncatingIfNeeded: fnv1a(key, n)) & mask
    while true {
        let id = sl[i]
        if id < 0 { return nil }
        let a = of[Int(id)]
        if of[Int(id) + 1] - a == n && memcmp(base + a, key, n) == 0 { return id }
        i = (i + 1) & mask
    }
}

/// The vocabulary (and merge operands) once built: TokenStore's three arrays as read-only tables, owned or borrowed
/// from a mapped tokenizer image.
struct Vocabulary {
    let bytes: Table<UInt8>, offsets: Table<Int>, slots: Table<Int32>
    private let mask: Int

    var count: Int { offsets.count - 1 }

    init(_ s: TokenStore) { self.init(bytes: Table(s.bytes), offsets: Table(s.offsets), slots: Table(s.slots)) }

    /// Tables the caller has checked: offsets start at 0, never decrease and end at bytes.count; slots is a power of
    /// two long and holds −1 (at least once) or ids < count.
    init(bytes: Table<UInt8>, offsets: Table<Int>, slots: Table<Int32>) {
        self.bytes = bytes; self.offsets = offsets; self.slots = slots; mask = slots.count - 1
    }

    @inline(__always) func lookup(_ p: UnsafeBufferPointer<UInt8>) -> Int32? { probeStrings(bytes.base, offsets.base, count, slots.base, mask, p) }
    func lookup(_ s: [UInt8]) -> Int32? { s.withUnsafeBufferPointer { lookup($0) } }

    @inline(__always) func tokenBytes(_ id: Int32) -> UnsafeBufferPointer<UInt8> { span(bytes, offsets, Int(id)) }
}

/// (left, right) → (rank, merged id) for BPE merges: built with `Builder`, then read-only.
struct MergeTable {
    typealias Value = (rank: Int32, merged: Int32)
    let keys: Table<UInt64>
    let values: Table<Value>
    private let mask: Int
    static let empty = UInt64.max

    /// Tables the caller has checked: a power of two long, the same length, at least one empty key, every merged
    /// id a stored string's.
    init(keys: Table<UInt64>, values: Table<Value>) { self.keys = keys; self.values = values; mask = keys.count - 1 }

    struct Builder {
        private var keys: [UInt64], values: [Value]
        private let mask: Int

        init(capacityFor n: Int) {
            var cap = 16
            while cap < 2 * n + 16 { cap <<= 1 }
            keys = [UInt64](repeating: MergeTable.empty, count: cap)
            values = [Value](repeating: (rank: 0, merged: 0), count: cap)
            mask = cap - 1
        }

        /// First insertion wins (a pair listed twice keeps its best rank).
        mutating func insert(_ l: Int32, _ r: Int32, rank: Int32, merged: Int32) {
            let k = MergeTable.key(l, r)
            var i = MergeTable.hash(k) & mask
            while keys[i] != MergeTable.empty {
                if keys[i] == k { return }
                i = (i + 1) & mask
            }
            keys[i] = k
            values[i] = (rank, merged)
        }

        func build() -> MergeTable { MergeTable(keys: Table(keys), values: Table(values)) }
    }

    @inline(__always) static func key(_ l: Int32, _ r: Int32) -> UInt64 { UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r)) }
    @inline(__always) static func hash(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 17) }

    @inline(__always) func find(_ l: Int32, _ r: Int32) -> Value? {
        let k = Self.key(l, r)
        var i = Self.hash(k) & mask
        while true {
            let s = keys[i]
            if s == k { return values[i] }
            if s == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}
