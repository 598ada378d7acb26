// LoadedFile — a model's tensors read into anonymous memory (llama.cpp's --no-mmap). The file's own mapping
// stays the default (instant open, shared page cache); this copy trades load time and private memory for
// weights on anonymous huge pages: one TLB entry per 2 MiB instead of the page cache's mix of 4 KiB pages
// and large folios, so a decode step's weight stream takes fewer page walks.
import SKECore

public final class LoadedFile: TensorFile, @unchecked Sendable {
    public let source: any TensorFile
    let arena: Arena
    /// Where the tensors start in the arena, and each tensor's offset from there.
    let weights: UnsafeMutableRawPointer
    let offsets: [String: Int]

    public var path: String { source.path }
    public var formatName: String { source.formatName + " (loaded into memory)" }
    public var fileSize: Int { source.fileSize }
    public var metadata: GGUFMetadata { source.metadata }
    public var tensors: [TensorInfo] { source.tensors }
    public var tokenizerImage: UnsafeRawBufferPointer? { source.tokenizerImage }
    public func tensor(named name: String) -> TensorInfo? { source.tensor(named: name) }

    /// Copies every tensor of `source` into one arena (64-byte aligned each), `pool`'s threads sharing the copy.
    public init(_ source: any TensorFile, pool: ThreadPool = .shared) throws {
        self.source = source
        var offsets: [String: Int] = [:], total = 0
        for t in source.tensors {
            offsets[t.name] = total
            total += (t.byteCount + Arena.alignment - 1) / Arena.alignment * Arena.alignment
        }
        let arena = try Arena(capacity: total + Arena.alignment)
        let weights = try arena.allocate(total, label: "weights")
        for t in source.tensors {
            let from = source.data(for: t), to = weights + offsets[t.name]!
            guard let src = from.baseAddress, t.byteCount > 0 else { continue }
            let chunks = (t.byteCount + (1 << 20) - 1) >> 20
            pool.parallelFor(chunks) { r in
                for c in r {
                    let lo = c << 20, n = Swift.min(1 << 20, t.byteCount - lo)
                    (to + lo).copyMemory(from: src + lo, byteCount: n)
                }
            }
        }
        self.arena = arena
        self.weights = weights
        self.offsets = offsets
    }

    public func data(for tensor: TensorInfo) -> UnsafeRawBufferPointer {
        guard let o = offsets[tensor.name] else { return source.data(for: tensor) }
        return UnsafeRawBufferPointer(start: weights + o, count: tensor.byteCount)
    }
}
