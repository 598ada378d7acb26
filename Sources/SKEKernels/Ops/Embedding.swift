// Token embedding lookup, forward and backward.
//
// Shapes: table [V, C] in any weight type (rows are whole blocks), ids [N] → y [N, C] f32.
// Forward dequantizes each looked-up row (so a Q8_0 or Q6_K embedding stays quantized in memory).
// Backward: dTable[id] += dy (f32 tables only; scatter-add, ids may repeat).
// An id outside 0..<V is a caller bug; `forward` returns false and writes nothing for such a call.
import SKECore

public enum Embedding {
    @discardableResult
    public static func forward(table: UnsafeRawPointer, type: GGMLType, vocab v: Int, cols c: Int,
                               ids: UnsafePointer<Int32>, count n: Int, y: UnsafeMutablePointer<Float>) -> Bool {
        guard let kern = QuantTraits.kernels(type, level: .reference), let rowBytes = type.byteCount(elements: c) else { return false }
        for i in 0..<n where ids[i] < 0 || Int(ids[i]) >= v { return false }
        for i in 0..<n { kern.dequantize(table + Int(ids[i]) * rowBytes, y + i * c, c) }
        return true
    }

    public static func backward(dy: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count n: Int, cols c: Int,
                                dTable: UnsafeMutablePointer<Float>, vocab v: Int) {
        for i in 0..<n {
            let id = Int(ids[i])
            guard id >= 0 && id < v else { continue }
            let d = dTable + id * c, g = dy + i * c
            for j in 0..<c { d[j] += g[j] }
        }
    }
}
