import Foundation
import Testing
@testable import SKEFormats
import SKECore

@Suite("The .bump format")
struct BumpTests {
    /// The sample GGUF written to disk and converted to .bump.
    static func sample(_ tag: String = #function) throws -> (gguf: GGUFFile, bump: String) {
        let tag = tag.filter { $0.isLetter }
        let g = Paths.tempFile("sample-\(tag).gguf")
        try makeSampleGGUF(seed: 9).write(to: g)
        let f = try GGUFFile(path: g)
        let b = Paths.tempFile("sample-\(tag).bump")
        try Bump.convert(f, tokenizerImage: sampleImage, to: b)
        return (f, b)
    }
    /// Stands in for a tokenizer image (opaque bytes to this module), odd-sized so that its padding is exercised.
    static let sampleImage: [UInt8] = (0..<333).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    @Test("the tokenizer image is flagged in the header, read back in place, and kept by bump → bump")
    func tokenizerImage() throws {
        let (g, path) = try Self.sample()
        let b = try BumpFile(path: path)
        #expect(b.tokenizerImage.map(Array.init) == Self.sampleImage)
        #expect(g.tokenizerImage == nil)
        let flags = try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 100, as: UInt32.self) }
        #expect(flags == Bump.flagTokenizerImage)
        // Without one: flag clear, no image.
        let plain = Paths.tempFile("plain.bump")
        try Bump.write(metadata: g.metadata, tensors: g.tensors, data: { g.data(for: $0) }, to: plain)
        #expect(try BumpFile(path: plain).tokenizerImage == nil)
    }

    @Test("files checksummed as one XXH64 stream (algorithm 1, before chunking) still verify, and corruption is still found")
    func streamChecksum() throws {
        let (g, _) = try Self.sample()
        let path = Paths.tempFile("stream.bump")
        try Bump.write(metadata: g.metadata, tensors: g.tensors, data: { g.data(for: $0) }, to: path, checksumAlgorithm: Bump.checksumXXH64)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 96, as: UInt32.self) } == Bump.checksumXXH64)
        #expect(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 104, as: UInt64.self) } == XXH64.hash(Array(bytes[128..<(bytes.count - 32)])))
        #expect(try BumpFile(path: path, verify: true).verified)
        bytes[bytes.count - 40] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: FormatError.self) { _ = try BumpFile(path: path, verify: true) }
    }

    @Test("checksum off: a byte flipped anywhere before the data (metadata walked and deferred, tokenizer image) is an error or a file whose metadata decodes, never a trap")
    func flipsWithoutVerification() throws {
        var w = try makeSampleGGUF(seed: 6)
        w.metadata["big.strings"] = .array(.string((0..<6000).map { "s\($0)" + String(repeating: "ß", count: $0 % 5) }))
        w.metadata["big.floats"] = .array(.float32((0..<20_000).map { Float($0) }))
        let g = Paths.tempFile("flips.gguf")
        try w.write(to: g)
        let path = Paths.tempFile("flips.bump")
        try Bump.convert(try GGUFFile(path: g), tokenizerImage: Self.sampleImage, to: path)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let dataOffset = try BumpFile(path: path).dataOffset
        let bad = Paths.tempFile("flips-bad.bump")
        var loaded = 0, refused = 0
        for at in stride(from: 0, to: dataOffset, by: 29) {
            var b = original
            b[at] ^= 0x5A
            try Data(b).write(to: URL(fileURLWithPath: bad))
            do {
                let f = try BumpFile(path: bad, verify: false)
                _ = f.metadata.entries.count   // every deferred array decoded
                _ = f.tokenizerImage.map { Array($0) }
                loaded += 1
            } catch is FormatError {
                refused += 1
            }
        }
        #expect(loaded > 0 && refused > 0)
    }

    @Test("unknown header flags are refused (with a valid header checksum)")
    func unknownFlags() throws {
        let (_, path) = try Self.sample()
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        b.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(3), toByteOffset: 100, as: UInt32.self) }
        let sum = XXH64.hash(Array(b[0..<112]))
        b.withUnsafeMutableBytes { $0.storeBytes(of: sum, toByteOffset: 112, as: UInt64.self) }
        let bad = Paths.tempFile("flags.bump")
        try Data(b).write(to: URL(fileURLWithPath: bad))
        #expect(throws: FormatError.self) { _ = try BumpFile(path: bad, verify: false) }
    }

    @Test("big metadata arrays are walked at open and decoded on first use: same values; a bad length inside is refused at open")
    func deferredMetadata() throws {
        var w = try makeSampleGGUF(seed: 4)
        let strings = (0..<20_000).map { "tok\($0)" + String(repeating: "é", count: $0 % 7) }
        let floats = (0..<40_000).map { Float($0) * 0.25 }
        w.metadata["big.strings"] = .array(.string(strings))
        w.metadata["big.floats"] = .array(.float32(floats))
        let g = Paths.tempFile("deferred.gguf")
        try w.write(to: g)
        let path = Paths.tempFile("deferred.bump")
        try Bump.convert(try GGUFFile(path: g), to: path)
        let b = try BumpFile(path: path, verify: false)
        #expect(b.metadata.arrayCount("big.strings") == strings.count && b.metadata.arrayCount("big.floats") == floats.count)
        #expect(b.metadata.array("big.strings")?.strings == strings)
        #expect(b.metadata.array("big.floats")?.floats == floats)
        #expect(b.metadata == w.metadata)
        // The 10,000th string's length made to run past the end of the file.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let marker = Array("tok9999".utf8)
        let at = try #require((0..<(bytes.count - marker.count)).first { Array(bytes[$0..<($0 + marker.count)]) == marker }) - 8
        #expect(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) } == UInt64(marker.count + 2 * (9999 % 7)))
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1) << 40, toByteOffset: at, as: UInt64.self) }
        let bad = Paths.tempFile("deferred-bad.bump")
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        #expect(throws: FormatError.self) { _ = try BumpFile(path: bad, verify: false) }
    }

    @Test("convert keeps every tensor byte, shape, type and all metadata")
    func convertRoundTrip() throws {
        let (g, path) = try Self.sample()
        let b = try BumpFile(path: path)
        #expect(b.verified)
        #expect(b.metadata == g.metadata)
        #expect(b.tensors.count == g.tensors.count)
        #expect(b.dataOffset % 4096 == 0)
        for (t, u) in zip(g.tensors, b.tensors) {
            #expect(t.name == u.name && t.type == u.type && t.dims == u.dims && t.byteCount == u.byteCount)
            #expect(u.offset % 64 == 0)
            #expect(Int(bitPattern: b.data(for: u).baseAddress!) % 64 == 0, "tensor data is 64-byte aligned in memory")
            #expect(Array(g.data(for: t)) == Array(b.data(for: u)))
        }
        // bump → bump is the identity on content.
        let again = Paths.tempFile("again.bump")
        try Bump.convert(b, to: again)
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("LoadedFile (--no-mmap) holds every tensor's bytes, 64-byte aligned, off the file's mapping; same metadata", arguments: [1, 3])
    func loadedIntoMemory(threads: Int) throws {
        let (g, path) = try Self.sample()
        for source in [g as any TensorFile, try BumpFile(path: path)] {
            let l = try LoadedFile(source, pool: ThreadPool(threadCount: threads))
            #expect(l.metadata == source.metadata && l.tensors.map(\.name) == source.tensors.map(\.name))
            for t in source.tensors {
                let a = source.data(for: t), b = l.data(for: t)
                #expect(Array(a) == Array(b), "\(t.name)")
                #expect(Int(bitPattern: b.baseAddress!) % 64 == 0)
                #expect(b.baseAddress != a.baseAddress)
            }
        }
    }

    @Test("general.alignment (a GGUF layout key) is not carried into .bump")
    func alignmentDropped() throws {
        var w = try makeSampleGGUF(seed: 2)
        w.metadata["general.alignment"] = .uint32(64)
        let g = Paths.tempFile("aligned.gguf")
        try w.write(to: g)
        let b = Paths.tempFile("aligned.bump")
        try Bump.convert(try GGUFFile(path: g), to: b)
        let f = try BumpFile(path: b)
        #expect(f.metadata["general.alignment"] == nil)
        #expect(f.metadata.count == w.metadata.count - 1)
    }

    @Test("any single corrupted byte is refused when verifying; data corruption is found only by the checksum")
    func corruption() throws {
        let (_, path) = try Self.sample()
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let probe = try BumpFile(path: path)
        let positions = Array(0..<min(original.count, probe.dataOffset + 256)) + Array(stride(from: probe.dataOffset + 256, to: original.count, by: 61))
        let bad = Paths.tempFile("bad.bump")
        var refused = 0, dataChecksumOnly = 0
        for at in positions {
            var b = original
            b[at] ^= 0x5A
            try Data(b).write(to: URL(fileURLWithPath: bad))
            do {
                _ = try BumpFile(path: bad, verify: true)
                Issue.record("flip at byte \(at) was not detected")
            } catch is FormatError {
                refused += 1
            }
            if at >= probe.dataOffset && at < original.count - Bump.footerBytes {
                // Without verification a flipped data byte loads (by design: --no-verify skips the read).
                if (try? BumpFile(path: bad, verify: false)) != nil { dataChecksumOnly += 1 }
            }
        }
        #expect(refused == positions.count)
        #expect(dataChecksumOnly > 0)
    }

    @Test("a corrupted file's message says what to do")
    func corruptionMessage() throws {
        let (_, path) = try Self.sample()
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        b[b.count - 100] ^= 1
        let bad = Paths.tempFile("msg.bump")
        try Data(b).write(to: URL(fileURLWithPath: bad))
        do {
            _ = try BumpFile(path: bad)
            Issue.record("not detected")
        } catch let e as FormatError {
            guard case .checksumMismatch = e else { Issue.record("wrong error \(e)"); return }
            #expect(e.description.contains("corrupted"))
        }
    }

    @Test("every truncation is refused")
    func truncation() throws {
        let (_, path) = try Self.sample()
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let bad = Paths.tempFile("short.bump")
        for cut in Array(0..<200) + Array(stride(from: 200, to: original.count, by: 97)) + [original.count - 1] {
            try Data(original[0..<cut]).write(to: URL(fileURLWithPath: bad))
            #expect(throws: FormatError.self, "cut at \(cut)") { _ = try BumpFile(path: bad, verify: false) }
        }
    }

    @Test("ModelFile.open picks the format by magic and refuses others")
    func detect() throws {
        let (_, path) = try Self.sample()
        #expect(try ModelFile.open(path) is BumpFile)
        #expect(try ModelFile.open(Paths.tempFile("sample-detect.gguf")) is GGUFFile)
        let junk = Paths.tempFile("junk.bin")
        try Data("hello world".utf8).write(to: URL(fileURLWithPath: junk))
        #expect(throws: FormatError.self) { _ = try ModelFile.open(junk) }
        #expect(throws: FormatError.self) { _ = try ModelFile.open(Paths.tempFile("does-not-exist")) }
        #expect(throws: FormatError.self) { _ = try ModelFile.open(FileManager.default.temporaryDirectory.path) }
    }
}

@Suite("XXH64")
struct XXH64Tests {
    struct Vector: Decodable { let length: Int; let seed: UInt64; let hash: String }
    struct File: Decodable { let vectors: [Vector] }

    static func pattern(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) } }

    @Test("matches the reference xxhash library, one-shot and streamed in odd pieces")
    func vectors() throws {
        let vs = try JSONDecoder().decode(File.self, from: Paths.fixture("xxh64_vectors.json")).vectors
        #expect(vs.count > 40)
        var rng = SeededRandom(seed: 3)
        for v in vs {
            let data = Self.pattern(v.length)
            let expected = UInt64(v.hash, radix: 16)!
            #expect(XXH64.hash(data, seed: v.seed) == expected, "length \(v.length) seed \(v.seed)")
            var h = XXH64(seed: v.seed)
            var i = 0
            while i < data.count {
                let n = min(data.count - i, Int.random(in: 1...70, using: &rng))
                data[i..<(i + n)].withUnsafeBytes { h.update($0) }
                i += n
            }
            #expect(h.digest() == expected, "streamed, length \(v.length)")
        }
    }

    @Test("chunked XXH64: one chunk is the XXH64 of its digest; streamed in odd pieces == hashed on 1 and 3 threads, at chunk edges",
          arguments: [0, 1, 1000, ChunkedXXH64.chunkBytes - 1, ChunkedXXH64.chunkBytes, ChunkedXXH64.chunkBytes + 1, 2 * ChunkedXXH64.chunkBytes + 77])
    func chunked(length: Int) throws {
        let data = Self.pattern(length)
        var h = ChunkedXXH64()
        var i = 0, step = 1
        while i < data.count {
            let n = min(data.count - i, step)
            data[i..<(i + n)].withUnsafeBytes { h.update($0) }
            i += n; step = step * 7 % 1_000_003 + 1
        }
        let streamed = h.digest()
        for threads in [1, 3] {
            #expect(data.withUnsafeBytes { ChunkedXXH64.hash($0, pool: ThreadPool(threadCount: threads)) } == streamed, "\(threads) threads")
        }
        if length <= ChunkedXXH64.chunkBytes {
            #expect(streamed == XXH64.hash(withUnsafeBytes(of: XXH64.hash(data).littleEndian) { Array($0) }))
        }
    }
}
