// GGUF writer — any metadata and tensors, version 3 by default. Used by tests to build tiny models
// with a fixed seed, by `ske quantize` and by training export. Tensor data is aligned to
// `general.alignment` (default 32) and written in the order tensors were added.
import SKECore

public struct GGUFWriter {
    public enum Source {
        case bytes([UInt8])
        /// Memory the caller keeps alive until `write` returns (e.g. a view into another mapped file).
        case buffer(UnsafeRawBufferPointer)
        var count: Int {
            switch self {
            case .bytes(let b): b.count
            case .buffer(let b): b.count
            }
        }
    }

    public var metadata: GGUFMetadata
    public var version: UInt32 = 3
    public private(set) var tensors: [(info: TensorInfo, source: Source)] = []

    public init(metadata: GGUFMetadata = GGUFMetadata()) { self.metadata = metadata }

    public var alignment: Int {
        if case .uint32(let a)? = metadata["general.alignment"], a > 0, a & (a - 1) == 0 { return Int(a) }
        return GGUFFile.defaultAlignment
    }

    /// Adds a tensor; `dims` in ggml order (dims[0] = row length). Checks the byte count.
    public mutating func addTensor(name: String, type: GGMLType, dims: [Int], data: Source) throws {
        guard !tensors.contains(where: { $0.info.name == name }) else {
            throw FormatError.invalidArgument("tensor '\(name)' added twice")
        }
        guard dims.count <= GGUFFile.maxDims, let n = elementCount(dims), (dims.first ?? 1) % type.blockSize == 0,
              let bytes = type.byteCount(elements: n) else {
            throw FormatError.invalidArgument("tensor '\(name)': shape \(dims) is not valid for \(type.name)")
        }
        guard bytes == data.count else {
            throw FormatError.invalidArgument("tensor '\(name)': \(type.name) \(dims) needs \(bytes) bytes, got \(data.count)")
        }
        tensors.append((TensorInfo(name: name, type: type, dims: dims, offset: 0, byteCount: bytes), data))
    }

    /// Header, metadata and tensor infos with offsets laid out; data offsets relative to the data region.
    func layout() -> (header: [UInt8], infos: [TensorInfo]) {
        let align = alignment
        var infos: [TensorInfo] = []
        var offset = 0
        for (info, _) in tensors {
            var t = info
            t.offset = offset
            infos.append(t)
            offset = (offset + t.byteCount + align - 1) / align * align
        }
        var e = ByteEncoder()
        e.bytes.append(contentsOf: GGUFFile.magic)
        e.write(version)
        e.write(UInt64(infos.count))
        e.write(UInt64(metadata.count))
        e.write(metadata)
        for t in infos {
            e.write(t.name)
            e.write(UInt32(t.dims.count))
            for d in t.dims { e.write(UInt64(d)) }
            e.write(t.type.rawValue)
            e.write(UInt64(t.offset))
        }
        e.pad(to: align)
        return (e.bytes, infos)
    }

    /// The whole file in memory (small files: tests, fuzz seeds).
    public func serialize() -> [UInt8] {
        let (header, infos) = layout()
        var out = header
        for (i, (_, src)) in tensors.enumerated() {
            out.append(contentsOf: repeatElement(0, count: header.count + infos[i].offset - out.count))
            switch src {
            case .bytes(let b): out.append(contentsOf: b)
            case .buffer(let b): out.append(contentsOf: b)
            }
        }
        if !tensors.isEmpty { out.append(contentsOf: repeatElement(0, count: (alignment - out.count % alignment) % alignment)) }
        return out
    }

    /// Writes the file (atomically: temp file, then rename). `progress(bytesDone, bytesTotal)`.
    public func write(to path: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let (header, infos) = layout()
        let out = try FileOutput(path: path)
        try out.write(header)
        let total = tensors.reduce(0) { $0 + $1.info.byteCount }
        var done = 0
        for (i, (_, src)) in tensors.enumerated() {
            try out.zeros(header.count + infos[i].offset - out.position)
            switch src {
            case .bytes(let b): try out.write(b)
            case .buffer(let b): try out.write(b)
            }
            done += infos[i].byteCount
            progress?(done, total)
        }
        if !tensors.isEmpty { try out.pad(to: alignment) }
        try out.commit()
    }
}
