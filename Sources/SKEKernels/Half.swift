// Half-precision helpers shared by every kernel: IEEE fp16 and bfloat16 ↔ f32, little-endian loads.
// With `-target-cpu haswell` Float(Float16) is one vcvtph2ps, not a library call.

@inline(__always) public func f16ToF32(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }
@inline(__always) public func f32ToF16(_ x: Float) -> UInt16 { Float16(x).bitPattern }  // round to nearest even
@inline(__always) public func bf16ToF32(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// f32 → bf16 as ggml does it (round to nearest even; NaN kept quiet).
@inline(__always) public func f32ToBF16(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if (u & 0x7fff_ffff) > 0x7f80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
    return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
}

extension UnsafeRawPointer {
    @inline(__always) func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    @inline(__always) func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    @inline(__always) func f16(_ offset: Int) -> Float { f16ToF32(u16(offset)) }
    @inline(__always) func u8(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inline(__always) func i8(_ offset: Int) -> Int8 { load(fromByteOffset: offset, as: Int8.self) }
}

extension UnsafeMutableRawPointer {
    @inline(__always) func storeU16(_ v: UInt16, _ offset: Int) { storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt16.self) }
    @inline(__always) func storeF32(_ v: Float, _ offset: Int) { storeBytes(of: v.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self) }
}
