import Foundation
import Testing
@testable import SKEFormats
import SKECore

@Suite("GGUF read/write")
struct GGUFTests {
    @Test("write → read gives identical metadata, tensor infos and bytes (memory and file)")
    func roundTrip() throws {
        let w = try makeSampleGGUF()
        let bytes = w.serialize()
        try bytes.withUnsafeBytes { raw in
            let f = try GGUFFile(bytes: raw)
            try check(f, against: w)
        }
        let path = Paths.tempFile("roundtrip.gguf")
        try w.write(to: path)
        let f = try GGUFFile(path: path)
        try check(f, against: w)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        // Read → write again gives the same bytes.
        var w2 = GGUFWriter(metadata: f.metadata)
        for t in f.tensors { try w2.addTensor(name: t.name, type: t.type, dims: t.dims, data: .buffer(f.data(for: t))) }
        #expect(w2.serialize() == bytes)
    }

    func check(_ f: GGUFFile, against w: GGUFWriter) throws {
        #expect(f.version == 3)
        #expect(f.metadata == w.metadata)
        #expect(f.tensors.count == w.tensors.count)
        #expect(f.dataOffset % f.alignment == 0)
        for (t, (info, src)) in zip(f.tensors, w.tensors) {
            #expect(t.name == info.name && t.type == info.type && t.dims == info.dims && t.byteCount == info.byteCount)
            #expect(t.offset % 32 == 0)
            guard case .bytes(let expected) = src else { continue }
            #expect(Array(f.data(for: t)) == expected)
        }
    }

    @Test("general.alignment is honoured", arguments: [1, 8, 64, 4096] as [UInt32])
    func alignment(_ a: UInt32) throws {
        var w = try makeSampleGGUF(seed: 7)
        w.metadata["general.alignment"] = .uint32(a)
        try w.serialize().withUnsafeBytes { raw in
            let f = try GGUFFile(bytes: raw)
            #expect(f.alignment == Int(a))
            #expect(f.dataOffset % Int(a) == 0)
            for t in f.tensors { #expect(t.offset % Int(a) == 0) }
            #expect(f.metadata == w.metadata)
        }
    }

    @Test("version 2 files are read")
    func version2() throws {
        var w = try makeSampleGGUF(seed: 3)
        w.version = 2
        let v = try w.serialize().withUnsafeBytes { raw in try GGUFFile(bytes: raw).version }
        #expect(v == 2)
    }

    @Test("a file with no tensors and no metadata")
    func empty() throws {
        let w = GGUFWriter()
        try w.serialize().withUnsafeBytes { raw in
            let f = try GGUFFile(bytes: raw)
            #expect(f.tensors.isEmpty && f.metadata.count == 0)
        }
    }

    @Test("the writer refuses wrong byte counts, bad shapes and duplicate names")
    func writerChecks() throws {
        var w = GGUFWriter()
        #expect(throws: FormatError.self) { try w.addTensor(name: "a", type: .q4_0, dims: [31], data: .bytes([UInt8](repeating: 0, count: 18))) }
        #expect(throws: FormatError.self) { try w.addTensor(name: "a", type: .f32, dims: [4], data: .bytes([1, 2, 3])) }
        try w.addTensor(name: "a", type: .f32, dims: [1], data: .bytes([0, 0, 0, 0]))
        #expect(throws: FormatError.self) { try w.addTensor(name: "a", type: .f32, dims: [1], data: .bytes([0, 0, 0, 0])) }
    }

    @Test("ggml type table matches gguf-py's block sizes (Q8_1: ggml C's 36-byte layout)")
    func typeTable() throws {
        struct Row: Decodable { let id: UInt32; let name: String; let block_size: Int; let block_bytes: Int }
        struct File: Decodable { let types: [Row] }
        let rows = try JSONDecoder().decode(File.self, from: Paths.fixture("ggml_types.json")).types
        var checked = 0
        for r in rows {
            guard let t = GGMLType(rawValue: r.id) else { continue }  // types newer than ske's table
            #expect(t.name == r.name, "id \(r.id)")
            #expect(t.blockSize == r.block_size, "\(r.name)")
            // gguf-py still lists Q8_1 with float d and s (40 bytes); ggml's block_q8_1 stores two f16 (36 bytes).
            #expect(t.blockBytes == (t == .q8_1 ? 36 : r.block_bytes), "\(r.name)")
            checked += 1
        }
        #expect(checked == GGMLType.allCases.count)
    }
}

@Suite("gguf-py reads what we write")
struct GGUFPythonInteropTests {
    static let requirePython = ProcessInfo.processInfo.environment["SKE_REQUIRE_PYTHON"] == "1"

    @Test func ggufPyReadsOurFile() throws {
        let w = try makeSampleGGUF(seed: 11)
        let path = Paths.tempFile("interop.gguf")
        try w.write(to: path)
        let script = """
        import json, sys, hashlib
        try:
            from gguf import GGUFReader
            from gguf.constants import GGUFValueType
        except ImportError as e:
            print("SKIP: " + str(e)); sys.exit(0)
        r = GGUFReader(sys.argv[1])
        def val(f):
            t = f.types[0]
            if t == GGUFValueType.ARRAY:
                return [None if f.types[1] == GGUFValueType.ARRAY else (bytes(f.parts[i]).decode() if f.types[1] == GGUFValueType.STRING else f.parts[i].tolist()[0]) for i in f.data]
            if t == GGUFValueType.STRING: return bytes(f.parts[f.data[0]]).decode()
            return f.parts[f.data[0]].tolist()[0]
        out = {"kv": {k: {"type": int(f.types[0]), "value": val(f)} for k, f in r.fields.items() if not k.startswith("GGUF.")},
               "tensors": [{"name": t.name, "type": int(t.tensor_type), "shape": [int(x) for x in t.shape],
                            "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()} for t in r.tensors]}
        print(json.dumps(out))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, path]
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch {
            if Self.requirePython { Issue.record("python3 not runnable: \(error)") } else { print("skipped: python3 not found") }
            return
        }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "python failed")
        let text = String(decoding: out, as: UTF8.self)
        if text.hasPrefix("SKIP") {
            if Self.requirePython { Issue.record("gguf-py missing: \(text)") } else { print("skipped: \(text)") }
            return
        }
        let json = try #require(try JSONSerialization.jsonObject(with: out) as? [String: Any])
        let kv = try #require(json["kv"] as? [String: [String: Any]])
        #expect(Set(kv.keys) == Set(w.metadata.keys))
        for (k, v) in w.metadata.entries {
            let py = try #require(kv[k])
            #expect(py["type"] as? Int == Int(v.type.rawValue), "\(k)")
            switch v {
            case .string(let s): #expect(py["value"] as? String == s, "\(k)")
            case .bool(let b): #expect(py["value"] as? Bool == b, "\(k)")
            case .float32, .float64: #expect((py["value"] as? Double).map { abs($0 - v.doubleValue!) <= abs(v.doubleValue!) * 1e-7 } == true, "\(k)")
            case .uint64(let u): #expect((py["value"] as? NSNumber)?.uint64Value == u, "\(k)")
            case .array(let a) where a.elementType == .array:
                // gguf-py's reader flattens nested arrays into its part list; it read past them correctly
                // (every later key and tensor matches), which is what this checks.
                _ = a
            case .array(let a):
                let values = try #require(py["value"] as? [Any], "\(k)")
                #expect(values.count == a.count, "\(k)")
                if let strs = a.strings { #expect(values as? [String] == strs, "\(k)") }
                if let ints = a.ints, a.elementType != .uint64 { #expect(values.compactMap { ($0 as? NSNumber)?.intValue } == ints, "\(k)") }
            default: #expect((py["value"] as? NSNumber)?.int64Value == Int64(v.intValue!), "\(k)")
            }
        }
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == w.tensors.count)
        for (py, (info, src)) in zip(tensors, w.tensors) {
            #expect(py["name"] as? String == info.name)
            #expect(py["type"] as? Int == Int(info.type.rawValue))
            #expect(py["shape"] as? [Int] == info.dims, "gguf-py's shape is ggml order (ne)")
            guard case .bytes(let b) = src else { continue }
            #expect(py["sha256"] as? String == sha256Hex(b), "\(info.name)")
        }
    }
}

func sha256Hex(_ data: [UInt8]) -> String { data.withUnsafeBytes { SHA256.hex($0) } }

@Test func sha256KnownAnswers() {
    #expect(sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    // 56 bytes: the padding spills into a second block.
    #expect(sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
}
