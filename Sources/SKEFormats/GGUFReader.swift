// GGUF reader — versions 2 and 3 (little-endian), all 13 metadata types, tensor infos, alignment
// (`general.alignment`, default 32), and tensor data as zero-copy views into an mmap of the file.
//
// Layout: magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv × (string key, u32 type, value)
//         | n_tensors × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml_type, u64 offset)
//         | padding to alignment | data (each tensor at data_offset + offset, offset % alignment == 0)
// Checks: every size and offset overflow-safe and within the file, known types, dims ≤ 4 and ≥ 0,
// ne[0] a multiple of the type's block size, no duplicate keys or names, tensors inside the data region.
import SKECore

public final class GGUFFile: TensorFile, @unchecked Sendable {
    public var tensorsAreFileMapped: Bool { mapping != nil }
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    public static let maxDims = 4

    public let path: String
    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [TensorInfo]
    public let alignment: Int
    /// Byte offset of the data region in the file.
    public let dataOffset: Int
    public let mapping: MappedFile?
    private let bytes: UnsafeRawBufferPointer
    private let byName: [String: Int]

    public var formatName: String { "GGUF v\(version)" }
    public var fileSize: Int { bytes.count }

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        let m = try MappedFile(path: path)
        try self.init(mapping: m, bytes: m.bytes, path: path)
    }

    /// Parses bytes already in memory (tests and the fuzzer); the caller keeps `bytes` alive.
    public convenience init(bytes: UnsafeRawBufferPointer) throws {
        try self.init(mapping: nil, bytes: bytes, path: "<memory>")
    }

    private init(mapping: MappedFile?, bytes: UnsafeRawBufferPointer, path: String) throws {
        self.mapping = mapping
        self.bytes = bytes
        self.path = path
        var c = ByteCursor(bytes)
        try c.need(4, "magic")
        let magic = Array(bytes[0..<4])
        guard magic == Self.magic else { throw FormatError.badMagic(format: "GGUF", found: magic) }
        c.position = 4
        let version = try c.read(UInt32.self, "version")
        if version & 0xFFFF == 0 && version != 0 { throw FormatError.bigEndian(format: "GGUF") }
        guard version == 2 || version == 3 else {
            throw FormatError.unsupportedVersion(format: "GGUF", version: version, supported: "2, 3")
        }
        self.version = version
        // The smallest tensor info is 8+0 name, 4 n_dims, 4 type, 8 offset = 24 bytes; a kv is at least 8+4+1.
        let nTensors = try c.readCount("tensor_count", minimumSize: 24)
        let nKV = try c.readCount("metadata_kv_count", minimumSize: 13)
        metadata = try c.readMetadata(count: nKV)

        var alignment = Self.defaultAlignment
        if let v = metadata["general.alignment"] {
            guard case .uint32(let a) = v, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw FormatError.invalid(format: "GGUF", field: "general.alignment", offset: 0,
                                          reason: "must be a u32 power of two, got \(v)")
            }
            alignment = Int(a)
        }
        self.alignment = alignment

        var infos: [TensorInfo] = []
        infos.reserveCapacity(nTensors)
        var names: [String: Int] = [:]
        var infoOffsets: [Int] = []
        for i in 0..<nTensors {
            let at = c.position
            let name = try c.readString("tensor[\(i)].name")
            guard names[name] == nil else { throw FormatError.duplicate(kind: "tensor", name: name, offset: at) }
            let dimsAt = c.position
            let nDims = try c.read(UInt32.self, "tensor[\(i)] '\(name)'.n_dims")
            guard nDims <= UInt32(Self.maxDims) else {
                throw FormatError.invalid(format: "GGUF", field: "tensor '\(name)'.n_dims", offset: dimsAt, reason: "\(nDims) > \(Self.maxDims)")
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let dAt = c.position
                let raw = try c.read(UInt64.self, "tensor '\(name)'.ne[\(d)]")
                guard raw <= UInt64(Int64.max) else {
                    throw FormatError.invalid(format: "GGUF", field: "tensor '\(name)'.ne[\(d)]", offset: dAt, reason: "dimension \(raw) is negative or too large")
                }
                dims.append(Int(raw))
            }
            let typeAt = c.position
            let rawType = try c.read(UInt32.self, "tensor '\(name)'.type")
            guard let type = GGMLType(rawValue: rawType) else { throw FormatError.unknownTensorType(tensor: name, offset: typeAt, raw: rawType) }
            let offAt = c.position
            let off = try c.read(UInt64.self, "tensor '\(name)'.offset")
            guard let n = elementCount(dims) else {
                throw FormatError.invalid(format: "GGUF", field: "tensor '\(name)'.ne", offset: dimsAt, reason: "element count of \(dims) overflows")
            }
            guard (dims.first ?? 1) % type.blockSize == 0, let byteCount = type.byteCount(elements: n) else {
                throw FormatError.invalid(format: "GGUF", field: "tensor '\(name)'.ne[0]", offset: dimsAt,
                                          reason: "row length \(dims.first ?? 1) is not a multiple of \(type.name)'s block size \(type.blockSize)")
            }
            guard off <= UInt64(Int.max), Int(off) % alignment == 0 else {
                throw FormatError.invalid(format: "GGUF", field: "tensor '\(name)'.offset", offset: offAt,
                                          reason: "offset \(off) is not a multiple of the alignment \(alignment)")
            }
            names[name] = i
            infos.append(TensorInfo(name: name, type: type, dims: dims, offset: Int(off), byteCount: byteCount))
            infoOffsets.append(at)
        }
        let (padded, o) = c.position.addingReportingOverflow(alignment - 1)
        guard !o else { throw FormatError.invalid(format: "GGUF", field: "data", offset: c.position, reason: "offset overflow") }
        dataOffset = padded / alignment * alignment
        let dataSize = max(0, bytes.count - dataOffset)
        for (i, t) in infos.enumerated() {
            let (end, o) = t.offset.addingReportingOverflow(t.byteCount)
            guard !o, end <= dataSize else {
                throw FormatError.tensorOutOfBounds(format: "GGUF", tensor: t.name, offset: infoOffsets[i], start: t.offset, bytes: t.byteCount, dataSize: dataSize)
            }
        }
        tensors = infos
        byName = names
    }

    public func data(for tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    public func tensor(named name: String) -> TensorInfo? { byName[name].map { tensors[$0] } }
}

/// What every model container (GGUF, .bump) offers: metadata, a tensor table and zero-copy data views.
public protocol TensorFile: AnyObject, Sendable {
    var path: String { get }
    var formatName: String { get }
    var fileSize: Int { get }
    var metadata: GGUFMetadata { get }
    var tensors: [TensorInfo] { get }
    func data(for tensor: TensorInfo) -> UnsafeRawBufferPointer
    func tensor(named name: String) -> TensorInfo?
    /// The tokenizer's built tables stored in the file (`.bump` files written with one), else nil.
    var tokenizerImage: UnsafeRawBufferPointer? { get }
    /// True when tensor bytes point into a read-only mapping of the file: pages of it may be dropped (MADV_DONTNEED)
    /// and are read back from the file on the next touch. False for tensors held in memory (`LoadedFile`).
    var tensorsAreFileMapped: Bool { get }
}

extension TensorFile {
    public var tokenizerImage: UnsafeRawBufferPointer? { nil }
    public var tensorsAreFileMapped: Bool { false }

    /// The bytes of the named tensor.
    public func data(named name: String) throws -> UnsafeRawBufferPointer {
        guard let t = tensor(named: name) else { throw FormatError.tensorNotFound(name: name) }
        return data(for: t)
    }
}
