// The `.bump` model file: everything a model needs, loadable with one mmap and pointer views.
// Byte-by-byte specification: docs/bump-format.md. Summary:
//   [128-byte header][tensor table + name pool][metadata (GGUF KV encoding)][pad to page]
//   [data: every tensor 64-byte aligned][32-byte footer]
// The header carries its own XXH64 (always checked) and the checksum of the body (table, metadata,
// data; XXH64 of 8 MiB chunks' XXH64s, so all threads verify), checked on load unless the caller opts out.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SKECore

public enum Bump {
    public static let magic: [UInt8] = Array("SKEBUMP\0".utf8)
    public static let footerMagic: [UInt8] = Array("SKEBEND\0".utf8)
    public static let version: UInt32 = 1
    public static let endianMarker: UInt32 = 0x0102_0304
    public static let headerBytes = 128
    public static let footerBytes = 32
    public static let recordBytes = 72
    public static let tensorAlignment = 64
    public static let dataAlignment = 4096
    /// checksum_algorithm values: 1, one XXH64 over the body (files written before chunking, still read); 2, the
    /// XXH64 of the body's 8 MiB chunks' XXH64s (`ChunkedXXH64`, what `write` produces).
    public static let checksumXXH64: UInt32 = 1
    public static let checksumChunkedXXH64: UInt32 = 2
    /// Header flag: a tokenizer image follows the metadata (u64 length, the image, zero padding to 8).
    public static let flagTokenizerImage: UInt32 = 1

    /// Writes a `.bump` file holding `metadata` and the tensors, data taken from `source`, and the tokenizer's built
    /// tables when given (`Tokenizer.image()`: opaque bytes here, read back by `BumpFile.tokenizerImage`).
    /// `general.alignment` is dropped from the metadata: it describes the GGUF layout, not this one.
    public static func write(metadata: GGUFMetadata, tensors: [TensorInfo], data: (TensorInfo) -> UnsafeRawBufferPointer,
                             tokenizerImage: [UInt8]? = nil, to path: String, progress: ((Int, Int) -> Void)? = nil,
                             checksumAlgorithm: UInt32 = checksumChunkedXXH64) throws {
        var md = metadata
        md.remove("general.alignment")
        // Table: fixed records, then the name pool.
        var infos: [TensorInfo] = []
        var pool: [UInt8] = []
        var table = ByteEncoder()
        var offset = 0
        for t in tensors {
            guard t.dims.count <= 4 else { throw FormatError.invalidArgument("tensor '\(t.name)' has \(t.dims.count) dims (max 4)") }
            var info = t
            info.offset = offset
            infos.append(info)
            let name = Array(t.name.utf8)
            table.write(UInt64(pool.count))
            table.write(UInt32(name.count))
            table.write(t.type.rawValue)
            table.write(UInt32(t.dims.count))
            table.write(UInt32(0))
            for d in 0..<4 { table.write(UInt64(d < t.dims.count ? t.dims[d] : 1)) }
            table.write(UInt64(info.offset))
            table.write(UInt64(t.byteCount))
            pool += name
            offset = (offset + t.byteCount + tensorAlignment - 1) / tensorAlignment * tensorAlignment
        }
        table.bytes += pool
        table.pad(to: 8)
        var meta = ByteEncoder()
        meta.write(md)
        meta.pad(to: 8)
        var extra = ByteEncoder()
        if let image = tokenizerImage {
            extra.write(UInt64(image.count))
            extra.bytes += image
            extra.pad(to: 8)
        }

        let tableOffset = headerBytes
        let metaOffset = tableOffset + table.bytes.count
        let dataOffset = (metaOffset + meta.bytes.count + extra.bytes.count + dataAlignment - 1) / dataAlignment * dataAlignment
        let dataBytes = offset
        let footerOffset = dataOffset + dataBytes

        let out = try FileOutput(path: path)
        try out.zeros(headerBytes)          // filled in last
        out.hasher = BodyHasher(algorithm: checksumAlgorithm)
        try out.write(table.bytes)
        try out.write(meta.bytes)
        try out.write(extra.bytes)
        try out.zeros(dataOffset - out.position)
        let total = tensors.reduce(0) { $0 + $1.byteCount }
        var done = 0
        for (t, info) in zip(tensors, infos) {
            try out.zeros(dataOffset + info.offset - out.position)
            let bytes = data(t)
            guard bytes.count == t.byteCount else {
                throw FormatError.invalidArgument("tensor '\(t.name)': expected \(t.byteCount) bytes, got \(bytes.count)")
            }
            try out.write(bytes)
            done += t.byteCount
            progress?(done, total)
        }
        try out.zeros(footerOffset - out.position)
        let body = out.hasher!.digest()
        out.hasher = nil

        var footer = ByteEncoder()
        footer.bytes += footerMagic
        footer.write(UInt64(footerOffset + footerBytes))
        footer.write(body)
        footer.write(UInt64(0))
        try out.write(footer.bytes)

        var h = ByteEncoder()
        h.bytes += magic
        h.write(version)
        h.write(endianMarker)
        h.write(UInt32(headerBytes))
        h.write(UInt32(tensorAlignment))
        h.write(UInt64(infos.count))
        h.write(UInt64(md.count))
        h.write(UInt64(tableOffset)); h.write(UInt64(table.bytes.count))
        h.write(UInt64(metaOffset)); h.write(UInt64(meta.bytes.count))
        h.write(UInt64(dataOffset)); h.write(UInt64(dataBytes))
        h.write(UInt64(footerOffset))
        h.write(checksumAlgorithm)
        h.write(tokenizerImage == nil ? UInt32(0) : flagTokenizerImage)
        h.write(body)
        h.write(XXH64.hash(h.bytes))  // header checksum over bytes 0..<112
        h.write(UInt64(0))
        precondition(h.bytes.count == headerBytes)
        try out.patch(h.bytes, at: 0)
        try out.commit()
    }

    /// Converts any model file (GGUF or .bump) to `.bump`, copying every tensor's bytes unchanged; the tokenizer
    /// image is `tokenizerImage`, else the input's own (a .bump's), else none.
    public static func convert(_ input: any TensorFile, tokenizerImage: [UInt8]? = nil, to path: String,
                               progress: ((Int, Int) -> Void)? = nil) throws {
        try write(metadata: input.metadata, tensors: input.tensors, data: { input.data(for: $0) },
                  tokenizerImage: tokenizerImage ?? input.tokenizerImage.map { Array($0) }, to: path, progress: progress)
    }
}

/// A `.bump` file mapped for use. Opening = mmap + header/table checks (+ body checksum if `verify`).
public final class BumpFile: TensorFile, @unchecked Sendable {
    public var tensorsAreFileMapped: Bool { true }
    public let path: String
    public let mapping: MappedFile
    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [TensorInfo]
    public let dataOffset: Int
    public let bodyChecksum: UInt64
    /// Nanoseconds spent verifying the body checksum (0 when not verified).
    public let verifyNanoseconds: UInt64
    public let verified: Bool
    /// The tokenizer's built tables, when the file carries them (header flag 1); nil otherwise.
    public let tokenizerImage: UnsafeRawBufferPointer?
    private let byName: [String: Int]

    public var formatName: String { "bump v\(version)" }
    public var fileSize: Int { mapping.count }

    /// `pool`'s threads share the checksum (chunked files).
    public init(path: String, verify: Bool = true, pool: ThreadPool = .shared) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let b = mapping.bytes
        var c = ByteCursor(b, format: ".bump")
        try c.need(8, "magic")
        let magic = Array(b[0..<8])
        guard magic == Bump.magic else { throw FormatError.badMagic(format: ".bump", found: magic) }
        try c.need(Bump.headerBytes, "header")
        c.position = 8
        version = try c.read(UInt32.self, "version")
        let marker = try c.read(UInt32.self, "endianness")
        guard marker == Bump.endianMarker else {
            if marker == Bump.endianMarker.byteSwapped { throw FormatError.bigEndian(format: ".bump") }
            throw FormatError.invalid(format: ".bump", field: "endianness", offset: 12, reason: "marker is \(hex64(UInt64(marker)))")
        }
        let storedHeaderSum = b.loadUnaligned(fromByteOffset: 112, as: UInt64.self)
        let headerSum = XXH64.hash(UnsafeRawBufferPointer(rebasing: b[0..<112]))
        guard storedHeaderSum == headerSum else {
            throw FormatError.checksumMismatch(path: path, region: "header (bytes 0..<112)", expected: storedHeaderSum, actual: headerSum)
        }
        guard version == Bump.version else {
            throw FormatError.unsupportedVersion(format: ".bump", version: version, supported: "\(Bump.version)")
        }
        guard b.loadUnaligned(fromByteOffset: 120, as: UInt64.self) == 0 else {
            throw FormatError.invalid(format: ".bump", field: "reserved", offset: 120, reason: "reserved header bytes must be zero")
        }
        let headerSize = try c.read(UInt32.self, "header_size")
        let align = try c.read(UInt32.self, "tensor_alignment")
        guard headerSize == UInt32(Bump.headerBytes), align == UInt32(Bump.tensorAlignment) else {
            throw FormatError.invalid(format: ".bump", field: "header_size/tensor_alignment", offset: 16, reason: "\(headerSize)/\(align), expected 128/64")
        }
        func field(_ name: String) throws -> Int {
            let at = c.position
            let v = try c.read(UInt64.self, name)
            guard v <= UInt64(b.count) else {
                throw FormatError.invalid(format: ".bump", field: name, offset: at, reason: "\(v) is past the end of the \(b.count)-byte file")
            }
            return Int(v)
        }
        let nTensors = try field("tensor_count")
        let nKV = try field("metadata_count")
        let tableOffset = try field("table_offset"), tableBytes = try field("table_bytes")
        let metaOffset = try field("metadata_offset"), metaBytes = try field("metadata_bytes")
        let dataOffset = try field("data_offset"), dataBytes = try field("data_bytes")
        let footerOffset = try field("footer_offset")
        let algorithm = try c.read(UInt32.self, "checksum_algorithm")
        let flags = try c.read(UInt32.self, "flags")
        bodyChecksum = try c.read(UInt64.self, "body_checksum")
        guard algorithm == Bump.checksumXXH64 || algorithm == Bump.checksumChunkedXXH64 else {
            throw FormatError.invalid(format: ".bump", field: "checksum_algorithm", offset: 96, reason: "unknown algorithm \(algorithm)")
        }
        // Sections must be in order, inside the file, and the footer must be where the header says.
        let sections = [(Bump.headerBytes, tableOffset, "table_offset"), (tableOffset + tableBytes, metaOffset, "metadata_offset"),
                         (metaOffset + metaBytes, dataOffset, "data_offset"), (dataOffset + dataBytes, footerOffset, "footer_offset")]
        for (minimum, value, name) in sections where value < minimum {
            throw FormatError.invalid(format: ".bump", field: name, offset: 40, reason: "\(value) overlaps the previous section (ends at \(minimum))")
        }
        guard dataOffset % Bump.dataAlignment == 0 else {
            throw FormatError.invalid(format: ".bump", field: "data_offset", offset: 72, reason: "\(dataOffset) is not page aligned")
        }
        guard footerOffset + Bump.footerBytes == b.count else {
            throw FormatError.truncated(format: ".bump", field: "footer", offset: footerOffset, needed: Bump.footerBytes + footerOffset, available: b.count)
        }
        guard Array(b[footerOffset..<(footerOffset + 8)]) == Bump.footerMagic,
              b.loadUnaligned(fromByteOffset: footerOffset + 8, as: UInt64.self) == UInt64(b.count),
              b.loadUnaligned(fromByteOffset: footerOffset + 16, as: UInt64.self) == bodyChecksum,
              b.loadUnaligned(fromByteOffset: footerOffset + 24, as: UInt64.self) == 0 else {
            throw FormatError.invalid(format: ".bump", field: "footer", offset: footerOffset, reason: "footer magic, size, checksum copy or reserved bytes do not match the header")
        }
        guard flags & ~Bump.flagTokenizerImage == 0 else {
            throw FormatError.invalid(format: ".bump", field: "flags", offset: 100, reason: "unknown flag bits \(hex64(UInt64(flags))) (a newer ske's file?)")
        }
        if flags & Bump.flagTokenizerImage != 0 {
            let at = metaOffset + metaBytes
            guard at + 8 <= dataOffset else {
                throw FormatError.truncated(format: ".bump", field: "tokenizer image length", offset: at, needed: 8, available: max(0, dataOffset - at))
            }
            let n = b.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            guard n <= UInt64(dataOffset - at - 8) else {
                throw FormatError.invalid(format: ".bump", field: "tokenizer image length", offset: at, reason: "\(n) bytes run into the data at \(dataOffset)")
            }
            tokenizerImage = UnsafeRawBufferPointer(rebasing: b[(at + 8)..<(at + 8 + Int(n))])
        } else {
            tokenizerImage = nil
        }
        guard nTensors <= tableBytes / Bump.recordBytes else {
            throw FormatError.invalid(format: ".bump", field: "tensor_count", offset: 24, reason: "\(nTensors) records do not fit in \(tableBytes) table bytes")
        }

        var verifyNs: UInt64 = 0
        if verify {
            let t0 = monotonicNanoseconds()
            let body = UnsafeRawBufferPointer(rebasing: b[Bump.headerBytes..<footerOffset])
            let sum = algorithm == Bump.checksumXXH64 ? XXH64.hash(body) : ChunkedXXH64.hash(body, pool: pool)
            verifyNs = monotonicNanoseconds() - t0
            guard sum == bodyChecksum else {
                throw FormatError.checksumMismatch(path: path, region: "body (bytes 128..<\(footerOffset))", expected: bodyChecksum, actual: sum)
            }
        }
        verifyNanoseconds = verifyNs
        verified = verify

        // Tensor table: fixed records, then the name pool.
        let poolStart = tableOffset + nTensors * Bump.recordBytes
        let poolEnd = tableOffset + tableBytes
        var infos: [TensorInfo] = []
        infos.reserveCapacity(nTensors)
        var names: [String: Int] = [:]
        var r = ByteCursor(UnsafeRawBufferPointer(rebasing: b[0..<poolEnd]), at: tableOffset, format: ".bump")
        for i in 0..<nTensors {
            let at = r.position
            let nameOff = try r.read(UInt64.self, "tensor[\(i)].name_offset")
            let nameLen = try r.read(UInt32.self, "tensor[\(i)].name_length")
            let rawType = try r.read(UInt32.self, "tensor[\(i)].type")
            let nDims = try r.read(UInt32.self, "tensor[\(i)].n_dims")
            _ = try r.read(UInt32.self, "tensor[\(i)].reserved")
            var dims: [Int] = []
            for d in 0..<4 {
                let v = try r.read(UInt64.self, "tensor[\(i)].dims[\(d)]")
                if d < Int(min(nDims, 4)) { dims.append(v <= UInt64(Int64.max) ? Int(v) : -1) }
            }
            let off = try r.read(UInt64.self, "tensor[\(i)].offset")
            let size = try r.read(UInt64.self, "tensor[\(i)].bytes")
            guard nameOff <= UInt64(poolEnd - poolStart), UInt64(nameLen) <= UInt64(poolEnd - poolStart) - nameOff else {
                throw FormatError.invalid(format: ".bump", field: "tensor[\(i)].name", offset: at, reason: "name lies outside the name pool")
            }
            let ns = poolStart + Int(nameOff)
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[ns..<(ns + Int(nameLen))]), as: UTF8.self)
            guard let type = GGMLType(rawValue: rawType) else { throw FormatError.unknownTensorType(tensor: name, offset: at + 12, raw: rawType) }
            guard nDims <= 4, !dims.contains(where: { $0 < 0 }), let n = elementCount(dims), let expect = type.byteCount(elements: n),
                  (dims.first ?? 1) % type.blockSize == 0, UInt64(expect) == size else {
                throw FormatError.invalid(format: ".bump", field: "tensor '\(name)'.dims", offset: at + 16, reason: "shape \(dims) of \(type.name) does not match \(size) bytes")
            }
            guard off % UInt64(Bump.tensorAlignment) == 0, off <= UInt64(dataBytes), size <= UInt64(dataBytes) - off else {
                throw FormatError.tensorOutOfBounds(format: ".bump", tensor: name, offset: at, start: Int(clamping: off), bytes: Int(clamping: size), dataSize: dataBytes)
            }
            guard names[name] == nil else { throw FormatError.duplicate(kind: "tensor", name: name, offset: at) }
            names[name] = i
            infos.append(TensorInfo(name: name, type: type, dims: dims, offset: Int(off), byteCount: Int(size)))
        }
        var m = ByteCursor(UnsafeRawBufferPointer(rebasing: b[0..<(metaOffset + metaBytes)]), at: metaOffset, format: ".bump")
        guard nKV <= metaBytes / 13 else {
            throw FormatError.invalid(format: ".bump", field: "metadata_count", offset: 32, reason: "\(nKV) entries cannot fit in \(metaBytes) bytes")
        }
        metadata = try m.readMetadata(count: nKV, deferringArraysOwnedBy: mapping)
        tensors = infos
        byName = names
        self.dataOffset = dataOffset
        mapping.advise(offset: dataOffset, length: dataBytes, hugePages: true, willNeed: true)
    }

    public func data(for tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    public func tensor(named name: String) -> TensorInfo? { byName[name].map { tensors[$0] } }
}

/// Opens a model file by its magic: GGUF or `.bump`.
public enum ModelFile {
    /// `mmap` false reads the tensors into memory (`LoadedFile`, llama.cpp's --no-mmap) instead of pointing into the
    /// file's mapping.
    public static func open(_ path: String, verify: Bool = true, mmap: Bool) throws -> any TensorFile {
        let file = try open(path, verify: verify)
        return mmap ? file : try LoadedFile(file)
    }

    public static func open(_ path: String, verify: Bool = true) throws -> any TensorFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError.io(path: path, operation: "open", errno: errno) }
        var head = [UInt8](repeating: 0, count: 8)
        let n = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8) }
        close(fd)
        if n >= 4 && Array(head[0..<4]) == GGUFFile.magic { return try GGUFFile(path: path) }
        if n == 8 && head == Bump.magic { return try BumpFile(path: path, verify: verify) }
        throw FormatError.unknownFormat(path: path, magic: Array(head[0..<max(0, n)]))
    }
}
