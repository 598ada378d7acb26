// XXH64 — the checksum of `.bump` files (xxHash, 64-bit variant, seed 0): ~10 GB/s on one core,
// so verifying a model on load costs milliseconds. The hot loop asks for the line 8 KiB ahead: a mapped model
// file is mostly 4 KiB pages and the hardware prefetcher stops at every page's end (a 241 MiB .bump in the page
// cache hashed at ~5 GB/s without it, ~9 with it). Streaming: `update` any number of times, then
// `digest`. Bit-identical to the reference xxHash (tests check published vectors).

import SKECore

public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    // The four lanes are deliberately not adjacent in memory: adjacent, LLVM's SLP vectoriser packs them
    // into one AVX2 register and emulates the 64-bit multiplies (5 GB/s instead of ~12 GB/s scalar).
    private var v1: UInt64
    private var total: UInt64 = 0
    private var v2: UInt64
    private var buffered = 0
    private var v3: UInt64
    private let seed: UInt64
    private var v4: UInt64
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }
    /// One 32-byte stripe into the four lanes.
    @inline(__always) static func stripe(_ p: UnsafeRawPointer, _ a: inout UInt64, _ b: inout UInt64, _ c: inout UInt64, _ d: inout UInt64) {
        a = round(a, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
        b = round(b, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        c = round(c, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        d = round(d, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }
    @inline(__always) static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* p1 &+ p4
    }

    /// One-shot hash of a buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = XXH64(seed: seed)
        h.update(bytes)
        return h.digest()
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    public mutating func update(_ input: UnsafeRawBufferPointer) {
        guard var p = input.baseAddress, input.count > 0 else { return }
        var n = input.count
        total &+= UInt64(n)
        if buffered > 0 {  // top up a partial 32-byte stripe first
            let take = min(32 - buffered, n)
            withUnsafeMutableBytes(of: &buffer) { b in
                b.baseAddress!.advanced(by: buffered).copyMemory(from: p, byteCount: take)
            }
            buffered += take; p += take; n -= take
            guard buffered == 32 else { return }
            v1 = Self.round(v1, buffer.0); v2 = Self.round(v2, buffer.1)
            v3 = Self.round(v3, buffer.2); v4 = Self.round(v4, buffer.3)
            buffered = 0
        }
        var a = v1, b = v2, c = v3, d = v4
        while n >= 64 + 8192 {  // hot loop: four independent lanes, the line 8 KiB ahead requested
            corePrefetch(p + 8192)
            Self.stripe(p, &a, &b, &c, &d); Self.stripe(p + 32, &a, &b, &c, &d)
            p += 64; n -= 64
        }
        while n >= 32 {
            Self.stripe(p, &a, &b, &c, &d)
            p += 32; n -= 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
        if n > 0 {
            withUnsafeMutableBytes(of: &buffer) { $0.baseAddress!.copyMemory(from: p, byteCount: n) }
            buffered = n
        }
    }

    public func digest() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = Self.rotl(v1, 1) &+ Self.rotl(v2, 7) &+ Self.rotl(v3, 12) &+ Self.rotl(v4, 18)
            h = Self.merge(h, v1); h = Self.merge(h, v2); h = Self.merge(h, v3); h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= total
        var tail = buffer
        withUnsafeBytes(of: &tail) { raw in
            var i = 0
            while i + 8 <= buffered {
                h ^= Self.round(0, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                h = Self.rotl(h, 27) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= buffered {
                h ^= UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* Self.p1
                h = Self.rotl(h, 23) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < buffered {
                h ^= UInt64(raw[i]) &* Self.p5
                h = Self.rotl(h, 11) &* Self.p1
                i += 1
            }
        }
        h ^= h >> 33; h &*= Self.p2
        h ^= h >> 29; h &*= Self.p3
        h ^= h >> 32
        return h
    }
}

/// The `.bump` body checksum (checksum_algorithm 2): the XXH64 of the little-endian XXH64 digests of consecutive
/// `chunkBytes` chunks (the last one shorter). The chunks hash independently, so verifying a file on open takes
/// every core (`hash(_:pool:)`), where one XXH64 stream is bound to one core's ~9 GB/s.
public struct ChunkedXXH64: Sendable {
    public static let chunkBytes = 8 << 20
    private var current = XXH64()
    private var inChunk = 0
    private var digests: [UInt64] = []

    public init() {}

    public mutating func update(_ input: UnsafeRawBufferPointer) {
        var rest = input
        while !rest.isEmpty {
            let take = min(rest.count, Self.chunkBytes - inChunk)
            current.update(UnsafeRawBufferPointer(rebasing: rest[..<take]))
            inChunk += take
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            if inChunk == Self.chunkBytes { digests.append(current.digest()); current = XXH64(); inChunk = 0 }
        }
    }

    public func digest() -> UInt64 {
        var all = digests
        if inChunk > 0 || all.isEmpty { all.append(current.digest()) }
        return all.withUnsafeBytes { XXH64.hash($0) }
    }

    /// The same value for a whole buffer, its chunks hashed on `pool`'s threads.
    public static func hash(_ bytes: UnsafeRawBufferPointer, pool: ThreadPool) -> UInt64 {
        let chunks = max(1, (bytes.count + chunkBytes - 1) / chunkBytes)
        var digests = [UInt64](repeating: 0, count: chunks)
        digests.withUnsafeMutableBufferPointer { out in
            let out = out
            pool.run { t, n in
                var c = t
                while c < chunks {
                    let lo = c * chunkBytes, hi = min(bytes.count, lo + chunkBytes)
                    out[c] = XXH64.hash(UnsafeRawBufferPointer(rebasing: bytes[lo..<hi]))
                    c += n
                }
            }
        }
        return digests.withUnsafeBytes { XXH64.hash($0) }
    }
}
