// Weights repacked four rows at a time for the decode kernels (llama.cpp's CPU_REPACK idea): the bytes of four
// consecutive rows rearranged block by block so that one 64-byte load feeds all four rows and the per-block
// headers of the four rows are unpacked together. Same byte count as the rows it replaces; done once, at an
// engine's first decode step (SKERuntime/RowSource.swift). Rows past the last full group of four stay as they were.
// Readers of one row (SGEMM/AMX's loaders) dequantize it in place: SIMDDequant.dequantizeQ4_Kx4.
//
// Q4_Kx4 (the kernel: SKEKernelsAVX512/InterleavedDots.swift), per super-block b of a group, 576 bytes at 576·b:
//   [0, 16)    (d, dmin) f16 of rows 0…3 (row r at 4r)
//   [16, 64)   scale words U0 | U1 | U2: U_i + 4r = bytes 4i…4i+3 of row r's 12 scale bytes
//   [64, 576)  chunk c = 2i + h (i = 0…3, h = 0…1) at 64 + 64c: row r's code bytes 32i + 16h ..< +16 at 16r
public enum Interleave {
    /// Original Q4_K super-block: d, dmin (4) | scales (12) | codes (128).
    static let q4KBlock = 144
    public static let q4_Kx4Block = 576

    /// Writes the Q4_Kx4 group of the four Q4_K rows at src, src + rowBytes, … (each rowBytes/144 super-blocks) to dst
    /// (4·rowBytes bytes).
    public static func packQ4_Kx4(_ src: UnsafeRawPointer, rowBytes: Int, _ dst: UnsafeMutableRawPointer) {
        for b in 0..<(rowBytes / q4KBlock) {
            let out = dst + q4_Kx4Block * b
            for r in 0..<4 {
                let blk = src + r * rowBytes + q4KBlock * b
                move(UInt32.self, from: blk, to: out + 4 * r)
                for i in 0..<3 { move(UInt32.self, from: blk + 4 + 4 * i, to: out + 16 + 16 * i + 4 * r) }
                for c in 0..<8 { move(SIMD16<UInt8>.self, from: blk + 16 + 32 * (c / 2) + 16 * (c % 2), to: out + 64 + 64 * c + 16 * r) }
            }
        }
    }

    /// One unaligned load and store of a T (a plain move, where copyMemory of a few bytes is a call).
    @inline(__always) static func move<T>(_: T.Type, from: UnsafeRawPointer, to: UnsafeMutableRawPointer) {
        to.storeBytes(of: from.loadUnaligned(as: T.self), as: T.self)
    }
}
