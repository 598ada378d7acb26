// Where a linear part's weight rows are read from: the tensor as it is in the file, or a copy repacked four rows at a
// time (SKEKernels/Interleave.swift), which the interleaved kernel reads directly (decode, and quantized batches
// token by token) and SGEMM/AMX's loaders dequantize in place.
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

    /// A weight the decode kernels would read repacked: its pointer, rows, row bytes and layout.
    struct Candidate { let w: UnsafeRawPointer, rows: Int, rowBytes: Int, path: QuantKernels.InterleavedPath }

    /// Repacked copies of weights (see `candidates`), made once on a pool, keyed by the original pointer.
    public final class Store: @unchecked Sendable {
        let arena: Arena
        let packed: [UnsafeRawPointer: UnsafeRawPointer]
        /// Bytes copied into the interleaved layout.
        public let bytes: Int

        /// SKE_REPACK=0 turns repacking off.
        public static let enabled: Bool = ProcessInfo.processInfo.environment["SKE_REPACK"] != "0"

        /// The weights with an interleaved layout that takes their rows, in every linear whose parts all have a four-row
        /// decode kernel and a multiple of four rows (quantized and mixed precision): its parts are read together (decode's
        /// four-row kernels; quantized batches four rows at a time token by token), each part from the copy if it has
        /// one, else from the file's rows (Gemma's and Qwen3's Q/K/V: Q and K packed, V read as it is). Each tensor once
        /// (one read by two steps is packed once).
        static func candidates(_ plan: Plan) -> [Candidate] {
            guard plan.precision != .float else { return [] }
            var out: [Candidate] = [], seen = Set<UnsafeRawPointer>()
            for step in plan.steps {
                guard case .linear(let l) = step,
                      l.parts.allSatisfy({ $0.kernels.rowDot4Rows != nil && $0.weight.rows % 4 == 0 }) else { continue }
                for part in l.parts {
                    guard let path = part.kernels.prepared?.interleaved, part.weight.rowBytes % path.rowBytesMultiple == 0,
                          seen.insert(part.weight.pointer).inserted else { continue }
                    out.append(Candidate(w: part.weight.pointer, rows: part.weight.rows, rowBytes: part.weight.rowBytes, path: path))
                }
            }
            return out
        }

        /// `releaseOriginals`: the originals are a read-only file mapping; their pages are dropped once copied (the
        /// process then holds the weights once; anything that still reads an original faults it back from the file).
        init(_ candidates: [Candidate], pool: ThreadPool, releaseOriginals: Bool) throws {
            // One block for all (fresh pages: faulting them in is most of the copy's time on a VM, 40–180 ms here).
            let sizes = candidates.map { ($0.rows * $0.rowBytes + 63) / 64 * 64 }, total = sizes.reduce(0, +)
            arena = try Arena(capacity: Arena.capacity(forBlocks: [total]))
            var dst = try arena.allocate(total, label: "repacked weights")
            var packed: [UnsafeRawPointer: UnsafeRawPointer] = [:]
            for (c, size) in zip(candidates, sizes) {
                Matmul.packInterleaved(c.path, w: c.w, rows: c.rows, rowBytes: c.rowBytes, into: dst, pool: pool)
                packed[c.w] = UnsafeRawPointer(dst)
                dst += size
                if releaseOriginals { Self.dropPages(c.w, c.rows * c.rowBytes) }
            }
            self.packed = packed
            bytes = candidates.reduce(0) { $0 + $1.rows * $1.rowBytes }
        }

        /// MADV_DONTNEED over the whole pages inside [p, p + bytes).
        static func dropPages(_ p: UnsafeRawPointer, _ bytes: Int) {
            let page = Int(sysconf(Int32(_SC_PAGESIZE))), start = (Int(bitPattern: p) + page - 1) / page * page
            let end = (Int(bitPattern: p) + bytes) / page * page
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
        }

        /// The part's rows: the repacked copy when there is one.
        func source(_ part: LinearStep.Part) -> RowSource {
            let w = part.weight
            if let p = packed[w.pointer] { return RowSource(w: p, rowBytes: w.rowBytes, type: w.type, interleaved: part.kernels.prepared?.interleaved) }
            return RowSource.original(part)
        }
    }

    /// The part's rows as the file holds them.
    static func original(_ part: LinearStep.Part) -> RowSource {
        RowSource(w: part.weight.pointer, rowBytes: part.weight.rowBytes, type: part.weight.type, interleaved: nil)
    }
}
