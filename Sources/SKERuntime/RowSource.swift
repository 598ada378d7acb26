// Where a linear part's weight rows are read from: the tensor as it is in the file, a copy repacked four rows at a
// time (SKEKernels/Interleave.swift), which the interleaved kernel reads directly (decode, and quantized batches
// token by token) and SGEMM/AMX's loaders dequantize in place, or a copy in file order on huge pages (the weights
// of a file mapping that have no interleaved layout), which every kernel reads as it reads the file's rows.
import SKECore
import SKEGraph
import SKEKernels
import Foundation

public struct RowSource: @unchecked Sendable {
    let w: UnsafeRawPointer, rowBytes: Int, type: GGMLType
    /// The repacked copy's kernels (C function pointers; nil when `w` is the file's rows).
    let dequantizeBlocks: QuantKernels.InterleavedPath.Dequantize?, dot4Rows: Dot4RowsKernel?

    init(w: UnsafeRawPointer, rowBytes: Int, type: GGMLType, interleaved path: QuantKernels.InterleavedPath?) {
        self.w = w; self.rowBytes = rowBytes; self.type = type
        dequantizeBlocks = path?.dequantize; dot4Rows = path?.dot4Rows
    }

    var isRepacked: Bool { dot4Rows != nil }

    /// SGEMM/AMX's row loader: values [k0, k0 + count) of a row (multiples of the block size) as floats, read in
    /// place from the repacked copy when there is one (bit for bit the file's values).
    func loader(dequantize kernel: @escaping DequantizeRow) -> Sgemm.RowLoader {
        guard let deq = dequantizeBlocks else { return Sgemm.rowLoader(w, rowBytes: rowBytes, type: type, dequantize: kernel) }
        let w = w, rowBytes = rowBytes, be = type.blockSize, groupBlock = 4 * type.blockBytes
        return { row, k0, count, dst in
            let group = w + (row & ~3) &* rowBytes
            // Loaders ask for rows in order: at a group's first row, prefetch the same columns of the next group.
            if row & 3 == 0 {
                let ahead = group + 4 &* rowBytes + k0 / be &* groupBlock
                for line in stride(from: 0, to: count / be &* groupBlock, by: 64) { corePrefetch(ahead + line) }
            }
            deq(group, rowBytes, row & 3, k0 / be, count / be, dst)
        }
    }

    /// A weight the decode kernels would read from a copy: its pointer, rows, row bytes and interleaved layout (nil: a
    /// copy in file order).
    struct Candidate { let w: UnsafeRawPointer, rows: Int, rowBytes: Int, path: QuantKernels.InterleavedPath? }

    /// Copies of weights (see `candidates`), made once on a pool, keyed by the original pointer: repacked four rows at a
    /// time, or in file order.
    public final class Store: @unchecked Sendable {
        let arena: Arena
        let packed: [UnsafeRawPointer: (copy: UnsafeRawPointer, interleaved: Bool)]
        /// Bytes copied into the interleaved layout.
        public let bytes: Int
        /// Bytes copied in file order (weights of a file mapping with no interleaved layout).
        public let copiedBytes: Int

        /// SKE_REPACK=0 turns both copies off (every kernel reads the file's rows).
        public static let enabled: Bool = ProcessInfo.processInfo.environment["SKE_REPACK"] != "0"

        /// The weights with an interleaved layout that takes their rows, in every linear whose parts all have a four-row
        /// decode kernel and a multiple of four rows (quantized and mixed precision): its parts are read together (decode's
        /// four-row kernels; quantized batches four rows at a time token by token), each part from the copy if it has
        /// one, else in file order (Gemma's and Qwen3's Q/K/V: Q and K packed, V as it is). Each tensor once (one read
        /// by two steps is packed once).
        ///
        /// `fileOrder`: the weights are a file mapping (4 KiB pages: decode's reads of them miss the TLB every page,
        /// ~7% of the Qwen3-shaped model's decode at two threads): every other part of every linear is copied as it is
        /// onto the huge pages the copies live on.
        static func candidates(_ plan: Plan, fileOrder: Bool) -> [Candidate] {
            guard plan.precision != .float else { return [] }
            var out: [Candidate] = [], plain: [Candidate] = [], seen = Set<UnsafeRawPointer>()
            for step in plan.steps {
                guard case .linear(let l) = step else { continue }
                let fourRows = l.parts.allSatisfy { $0.kernels.rowDot4Rows != nil && $0.weight.rows % 4 == 0 }
                for part in l.parts {
                    let w = part.weight
                    if fourRows, let path = part.kernels.prepared?.interleaved, w.rowBytes % path.rowBytesMultiple == 0 {
                        if seen.insert(w.pointer).inserted { out.append(Candidate(w: w.pointer, rows: w.rows, rowBytes: w.rowBytes, path: path)) }
                    } else if fileOrder {
                        plain.append(Candidate(w: w.pointer, rows: w.rows, rowBytes: w.rowBytes, path: nil))
                    }
                }
            }
            // A tensor some linear reads repacked is not copied a second time for another (none of the models does that).
            return out + plain.filter { seen.insert($0.w).inserted }
        }

        /// The candidates to copy within `budget` bytes (nil: no limit): all of them if they fit, else only the repacked
        /// ones (their kernels are the faster per byte; the file-order copies only save TLB misses), else none. Anonymous
        /// copies cannot be evicted as a mapping's pages can, so a model near the size of memory must stay mapped.
        static func fitting(_ candidates: [Candidate], budget: Int?) -> [Candidate] {
            guard let budget else { return candidates }
            func bytes(_ cs: [Candidate]) -> Int { cs.reduce(0) { $0 + $1.rows * $1.rowBytes } }
            if bytes(candidates) <= budget { return candidates }
            let repacked = candidates.filter { $0.path != nil }
            return bytes(repacked) <= budget ? repacked : []
        }

        /// `releaseOriginals`: the originals are a read-only file mapping; their pages are dropped once copied (the
        /// process then holds the weights once; anything that still reads an original faults it back from the file).
        init(_ candidates: [Candidate], pool: ThreadPool, releaseOriginals: Bool) throws {
            // One block for all (fresh pages: zeroing them is most of the copy's time; on this VM 40–180 ms for the
            // repacked Q4_K, up to 0.7 s with the file-order copies when the host must first back the memory).
            let sizes = candidates.map { ($0.rows * $0.rowBytes + 63) / 64 * 64 }, total = sizes.reduce(0, +)
            arena = try Arena(capacity: Arena.capacity(forBlocks: [total]))
            var dst = try arena.allocate(total, label: "weights copied for decode")
            var packed: [UnsafeRawPointer: (UnsafeRawPointer, Bool)] = [:]
            for (c, size) in zip(candidates, sizes) {
                if let path = c.path {
                    Matmul.packInterleaved(path, w: c.w, rows: c.rows, rowBytes: c.rowBytes, into: dst, pool: pool)
                } else {
                    let to = dst, rowBytes = c.rowBytes
                    pool.parallelFor(c.rows) { rs in
                        (to + rs.lowerBound * rowBytes).copyMemory(from: c.w + rs.lowerBound * rowBytes, byteCount: rs.count * rowBytes)
                    }
                }
                packed[c.w] = (UnsafeRawPointer(dst), c.path != nil)
                dst += size
                if releaseOriginals { Self.dropPages(c.w, c.rows * c.rowBytes) }
            }
            self.packed = packed
            bytes = candidates.reduce(0) { $0 + ($1.path != nil ? $1.rows * $1.rowBytes : 0) }
            copiedBytes = candidates.reduce(0) { $0 + ($1.path == nil ? $1.rows * $1.rowBytes : 0) }
        }

        /// MADV_DONTNEED over the whole pages inside [p, p + bytes).
        static func dropPages(_ p: UnsafeRawPointer, _ bytes: Int) {
            let page = Int(sysconf(Int32(_SC_PAGESIZE))), start = (Int(bitPattern: p) + page - 1) / page * page
            let end = (Int(bitPattern: p) + bytes) / page * page
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
        }

        /// The part's rows: the copy when there is one.
        func source(_ part: LinearStep.Part) -> RowSource {
            let w = part.weight
            guard let p = packed[w.pointer] else { return RowSource.original(part) }
            return RowSource(w: p.copy, rowBytes: w.rowBytes, type: w.type, interleaved: p.interleaved ? part.kernels.prepared?.interleaved : nil)
        }
    }

    /// The part's rows as the file holds them.
    static func original(_ part: LinearStep.Part) -> RowSource {
        RowSource(w: part.weight.pointer, rowBytes: part.weight.rowBytes, type: part.weight.type, interleaved: nil)
    }
}
