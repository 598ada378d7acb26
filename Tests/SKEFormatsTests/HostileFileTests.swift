// Hostile files: every one must give a typed FormatError (or, for harmless edits, a file whose every
// tensor view lies inside the buffer) — never a trap, never an out-of-bounds view.
import Foundation
import Testing
@testable import SKEFormats
import SKECore

/// Parses `bytes`; returns the error, or nil after touching every tensor byte (proving views are in bounds).
func parseOutcome(_ bytes: [UInt8]) -> FormatError? {
    bytes.withUnsafeBytes { raw in
        do {
            let f = try GGUFFile(bytes: raw)
            for t in f.tensors {
                let d = f.data(for: t)
                if d.count > 0 {
                    precondition(d.baseAddress! >= raw.baseAddress! && d.baseAddress! + d.count <= raw.baseAddress! + raw.count)
                }
            }
            return nil
        } catch let e as FormatError {
            return e
        } catch {
            Issue.record("untyped error \(error)")
            return nil
        }
    }
}

@Suite("Hostile GGUF files")
struct HostileGGUFTests {
    static let sample = try! makeSampleGGUF(seed: 5).serialize()

    @Test("every truncation of a valid file is a typed error")
    func everyTruncation() {
        let s = Self.sample
        let tail = s.count - s.count % 32  // the last tensor ends before trailing padding
        var errors = 0
        for cut in 0..<s.count {
            if parseOutcome(Array(s[0..<cut])) != nil { errors += 1 }
        }
        // Cuts inside the final padding still hold every tensor byte; all earlier cuts must fail.
        #expect(errors >= tail - 32)
    }

    @Test("every header byte overwritten with extreme values never traps",
          arguments: [[0x00], [0xFF], [0x7F], [0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0x00, 0x00, 0x00, 0x80],
                      [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                      [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]] as [[UInt8]])
    func overwrite(_ pattern: [UInt8]) throws {
        let s = Self.sample
        let headerEnd = try s.withUnsafeBytes { try GGUFFile(bytes: $0).dataOffset }
        for at in 0..<(headerEnd - pattern.count) {
            var b = s
            b.replaceSubrange(at..<(at + pattern.count), with: pattern)
            _ = parseOutcome(b)
        }
    }

    /// A GGUF assembled by hand, so each field can be set to anything.
    struct Raw {
        var magic: [UInt8] = Array("GGUF".utf8)
        var version: UInt32 = 3
        var nTensors: UInt64 = 0
        var nKV: UInt64 = 0
        var body: [UInt8] = []
        var bytes: [UInt8] {
            var e = ByteEncoder()
            e.bytes = magic
            e.write(version); e.write(nTensors); e.write(nKV)
            return e.bytes + body
        }
    }

    static func kv(_ key: String, type: UInt32, _ payload: (inout ByteEncoder) -> Void) -> [UInt8] {
        var e = ByteEncoder()
        e.write(key); e.write(type); payload(&e)
        return e.bytes
    }

    static func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) -> [UInt8] {
        var e = ByteEncoder()
        e.write(name); e.write(UInt32(dims.count))
        for d in dims { e.write(d) }
        e.write(type); e.write(offset)
        return e.bytes
    }

    func expectError(_ raw: Raw, _ sourceLocation: SourceLocation = #_sourceLocation, matches: (FormatError) -> Bool) {
        let e = parseOutcome(raw.bytes)
        #expect(e != nil, "expected an error", sourceLocation: sourceLocation)
        if let e { #expect(matches(e), "got: \(e)", sourceLocation: sourceLocation) }
    }

    @Test func badMagic() {
        var r = Raw(); r.magic = Array("GGUG".utf8)
        expectError(r) { if case .badMagic = $0 { true } else { false } }
        #expect(parseOutcome([0x47, 0x47]).map { if case .truncated = $0 { true } else { false } } == true)
    }

    @Test func versions() {
        for v: UInt32 in [0, 1, 4, UInt32.max] {
            var r = Raw(); r.version = v
            expectError(r) { if case .unsupportedVersion = $0 { true } else { false } }
        }
        var r = Raw(); r.version = UInt32(3).byteSwapped
        expectError(r) { $0 == .bigEndian(format: "GGUF") }
    }

    @Test("huge counts are refused before anything is allocated")
    func hugeCounts() {
        for n: UInt64 in [1 << 40, UInt64.max, UInt64(Int.max), 1000] {
            var r = Raw(); r.nTensors = n
            expectError(r) { if case .invalid(_, let f, _, _) = $0 { f == "tensor_count" } else { false } }
            var k = Raw(); k.nKV = n
            expectError(k) { if case .invalid(_, let f, _, _) = $0 { f == "metadata_kv_count" } else { false } }
        }
        var a = Raw(); a.nKV = 1
        a.body = Self.kv("big", type: 9) { $0.write(UInt32(6)); $0.write(UInt64(1) << 61) }
        expectError(a) { if case .invalid(_, let f, _, _) = $0 { f.hasSuffix(".count") } else { false } }
    }

    @Test("string lengths past the end of the file")
    func stringPastEOF() {
        var r = Raw(); r.nKV = 1
        var e = ByteEncoder(); e.write(UInt64(1_000_000)); e.bytes += Array("key-and-some-more-bytes".utf8)
        r.body = e.bytes
        expectError(r) { if case .truncated(_, let f, _, _, _) = $0 { f == "kv[0].key" } else { false } }
        var v = Raw(); v.nKV = 1
        v.body = Self.kv("k", type: 8) { $0.write(UInt64.max) }
        expectError(v) { if case .truncated = $0 { true } else { false } }
        var a = Raw(); a.nKV = 1
        a.body = Self.kv("k", type: 9) { $0.write(UInt32(8)); $0.write(UInt64(2)); $0.write("ok"); $0.write(UInt64(99)) }
        expectError(a) { if case .truncated(_, let f, _, _, _) = $0 { f == "kv[0] 'k'[1]" } else { false } }
    }

    @Test("unknown metadata and tensor types")
    func unknownTypes() {
        var r = Raw(); r.nKV = 1
        r.body = Self.kv("k", type: 13) { $0.write(UInt32(0)) }
        expectError(r) { if case .unknownValueType(_, _, let raw) = $0 { raw == 13 } else { false } }
        var a = Raw(); a.nKV = 1
        a.body = Self.kv("k", type: 9) { $0.write(UInt32(77)); $0.write(UInt64(0)) }
        expectError(a) { if case .unknownValueType(_, _, let raw) = $0 { raw == 77 } else { false } }
        for t: UInt32 in [4, 5, 31, 36, 1000, UInt32.max] {
            var tr = Raw(); tr.nTensors = 1
            tr.body = Self.tensorInfo("w", dims: [32], type: t, offset: 0) + [UInt8](repeating: 0, count: 1024)
            expectError(tr) { if case .unknownTensorType(let name, _, let raw) = $0 { name == "w" && raw == t } else { false } }
        }
    }

    @Test("bad alignment values")
    func badAlignment() {
        for (type, payload): (UInt32, (inout ByteEncoder) -> Void) in [
            (4, { $0.write(UInt32(0)) }), (4, { $0.write(UInt32(3)) }), (4, { $0.write(UInt32(48)) }),
            (4, { $0.write(UInt32.max) }), (10, { $0.write(UInt64(32)) }), (8, { $0.write("32") }),
        ] {
            var r = Raw(); r.nKV = 1
            r.body = Self.kv("general.alignment", type: type, payload)
            expectError(r) { if case .invalid(_, let f, _, _) = $0 { f == "general.alignment" } else { false } }
        }
    }

    @Test("tensor shapes, offsets and bounds")
    func tensorChecks() {
        let pad = [UInt8](repeating: 0, count: 4096)
        func one(_ info: [UInt8]) -> Raw { var r = Raw(); r.nTensors = 1; r.body = info + pad; return r }
        // Too many dims, row length not a multiple of the block size, element count overflow.
        expectError(one(Self.tensorInfo("w", dims: [1, 1, 1, 1, 1], type: 0, offset: 0))) { if case .invalid(_, let f, _, _) = $0 { f.hasSuffix("n_dims") } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [33], type: 2, offset: 0))) { if case .invalid(_, let f, _, _) = $0 { f.hasSuffix("ne[0]") } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [1 << 40, 1 << 40], type: 0, offset: 0))) { if case .invalid = $0 { true } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [UInt64.max], type: 0, offset: 0))) { if case .invalid = $0 { true } else { false } }
        // Misaligned and out-of-range offsets.
        expectError(one(Self.tensorInfo("w", dims: [8], type: 0, offset: 4))) { if case .invalid(_, let f, _, _) = $0 { f.hasSuffix(".offset") } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [8], type: 0, offset: 1 << 20))) { if case .tensorOutOfBounds = $0 { true } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [8], type: 0, offset: UInt64.max - 31))) { if case .invalid = $0 { true } else { false } }
        expectError(one(Self.tensorInfo("w", dims: [2048], type: 0, offset: 0))) { if case .tensorOutOfBounds = $0 { true } else { false } }
        // Duplicate tensor names and metadata keys.
        var d = Raw(); d.nTensors = 2
        d.body = Self.tensorInfo("w", dims: [8], type: 0, offset: 0) + Self.tensorInfo("w", dims: [8], type: 0, offset: 32) + pad
        expectError(d) { if case .duplicate(let kind, _, _) = $0 { kind == "tensor" } else { false } }
        var k = Raw(); k.nKV = 2
        k.body = Self.kv("a", type: 4) { $0.write(UInt32(1)) } + Self.kv("a", type: 4) { $0.write(UInt32(2)) }
        expectError(k) { if case .duplicate(let kind, _, _) = $0 { kind == "metadata key" } else { false } }
    }

    @Test("nested arrays past the depth limit and invalid bools")
    func nestingAndBools() {
        var r = Raw(); r.nKV = 1
        var e = ByteEncoder()
        e.write("deep"); e.write(UInt32(9))
        for _ in 0..<20 { e.write(UInt32(9)); e.write(UInt64(1)) }
        r.body = e.bytes
        expectError(r) { if case .invalid(_, _, _, let reason) = $0 { reason.contains("nested") } else { false } }
        var b = Raw(); b.nKV = 1
        b.body = Self.kv("b", type: 7) { $0.write(UInt8(2)) }
        expectError(b) { if case .invalid(_, _, _, let reason) = $0 { reason.contains("bool") } else { false } }
    }

    @Test("error messages name the field and the byte offset")
    func messages() {
        var r = Raw(); r.nKV = 1
        r.body = Self.kv("k", type: 8) { $0.write(UInt64(50)) }
        let e = parseOutcome(r.bytes)
        #expect(e?.description.contains("'kv[0] 'k''") == true)
        #expect(e?.description.contains("byte 37") == true, "\(String(describing: e))")
    }
}
