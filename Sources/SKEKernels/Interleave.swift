// Weights repacked four rows at a time for the decode kernels (llama.cpp's CPU_REPACK idea): the bytes of four
// consecutive rows rearranged block by block so that one 64-byte load feeds all four rows and the per-block
// headers of the four rows are unpacked together. Same byte count as the rows it replaces; done once, at an
// engine's first decode step (SKERuntime/RowSource.swift). Rows past the last full group of four stay as they were.
// Readers of one row (SGEMM/AMX's loaders) dequantize it in place (SIMDDequant.dequantizeQ4_Kx4, …Q5_0x4, …Q4_1x4).
//
// Q4_Kx4 (the kernel: SKEKernelsAVX512/InterleavedDots.swift), per super-block b of a group, 576 bytes at 576·b:
//   [0, 16)    (d, dmin) f16 of rows 0…3 (row r at 4r)
//   [16, 64)   scale words U0 | U1 | U2: U_i + 4r = bytes 4i…4i+3 of row r's 12 scale bytes
//   [64, 576)  chunk c = 2i + h (i = 0…3, h = 0…1) at 64 + 64c: row r's code bytes 32i + 16h ..< +16 at 16r
//
// Q5_0x4 (rows of a multiple of four blocks), per four blocks 4u…4u+3 of a group, 352 bytes at 352·u:
//   [0, 256)    block j at 64j: row r's 16 code bytes at 16r
//   [256, 320)  block j at 256 + 16j: the low halves of the four rows' qh words (row r at 2r: bit 16r + i adds 16 to
//               value i, a k-mask over the 64 low nibbles), then at + 8 the high halves (values 16–31)
//   [320, 352)  d f16 of row r, block j at 320 + 2·(4r + j)
//
// Q4_1x4, per four blocks 4u…4u+3 of a group, 320 bytes at 320·u:
//   [0, 256)    block j at 64j: row r's 16 code bytes at 16r
//   [256, 288)  d f16 of row r, block j at 256 + 2·(4r + j);  [288, 320)  m f16 likewise
// then each of the last nb mod 4 blocks (j), 80 bytes at 320·⌊nb/4⌋ + 80j: row r's 16 code bytes at 16r | d f16 of
// row r at 64 + 2r | m f16 at 72 + 2r.
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

    /// Original Q5_0 block: d (2) | qh (4) | codes (16).
    static let q5_0Block = 22
    public static let q5_0x4Quad = 352

    /// Writes the Q5_0x4 group of the four Q5_0 rows at src, src + rowBytes, … (rowBytes a multiple of four blocks)
    /// to dst (4·rowBytes bytes).
    public static func packQ5_0x4(_ src: UnsafeRawPointer, rowBytes: Int, _ dst: UnsafeMutableRawPointer) {
        precondition(rowBytes % (4 * q5_0Block) == 0, "Q5_0x4 packs rows of a multiple of four blocks")
        for u in 0..<(rowBytes / (4 * q5_0Block)) {
            let out = dst + q5_0x4Quad * u
            for r in 0..<4 {
                for j in 0..<4 {
                    let blk = src + r * rowBytes + q5_0Block * (4 * u + j)
                    move(SIMD16<UInt8>.self, from: blk + 6, to: out + 64 * j + 16 * r)
                    move(UInt16.self, from: blk + 2, to: out + 256 + 16 * j + 2 * r)
                    move(UInt16.self, from: blk + 4, to: out + 264 + 16 * j + 2 * r)
                    move(UInt16.self, from: blk, to: out + 320 + 2 * (4 * r + j))
                }
            }
        }
    }

    /// Original Q4_1 block: d (2) | m (2) | codes (16).
    static let q4_1Block = 20
    public static let q4_1x4Quad = 320, q4_1x4Tail = 80

    /// Writes the Q4_1x4 group of the four Q4_1 rows at src, src + rowBytes, … to dst (4·rowBytes bytes).
    public static func packQ4_1x4(_ src: UnsafeRawPointer, rowBytes: Int, _ dst: UnsafeMutableRawPointer) {
        let nb = rowBytes / q4_1Block, nq = nb / 4
        for u in 0..<nq {
            let out = dst + q4_1x4Quad * u
            for r in 0..<4 {
                for j in 0..<4 {
                    let blk = src + r * rowBytes + q4_1Block * (4 * u + j)
                    move(SIMD16<UInt8>.self, from: blk + 4, to: out + 64 * j + 16 * r)
                    move(UInt16.self, from: blk, to: out + 256 + 2 * (4 * r + j))
                    move(UInt16.self, from: blk + 2, to: out + 288 + 2 * (4 * r + j))
                }
            }
        }
        for j in 0..<(nb % 4) {
            let out = dst + q4_1x4Quad * nq + q4_1x4Tail * j
            for r in 0..<4 {
                let blk = src + r * rowBytes + q4_1Block * (4 * nq + j)
                move(SIMD16<UInt8>.self, from: blk + 4, to: out + 16 * r)
                move(UInt16.self, from: blk, to: out + 64 + 2 * r)
                move(UInt16.self, from: blk + 2, to: out + 72 + 2 * r)
            }
        }
    }

    /// One unaligned load and store of a T (a plain move, where copyMemory of a few bytes is a call).
    @inline(__always) static func move<T>(_: T.Type, from: UnsafeRawPointer, to: UnsafeMutableRawPointer) {
        to.storeBytes(of: from.loadUnaligned(as: T.self), as: T.self)
    }
}
