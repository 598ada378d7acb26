// Cross-entropy fused with softmax, forward and backward.
//
// Shapes: logits [N, V], targets [N] (Int32; a negative target is ignored: loss 0, no gradient),
//   losses [N], lse [N] (log-sum-exp, saved for backward).
// Forward: loss_i = lse_i − logit_i[target_i]. Backward: dlogits_i += dloss_i·(softmax_i − onehot(target_i)),
// recomputing softmax from logits and lse (no [N, V] probability buffer).
import RealModule

public enum CrossEntropy {
    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(
        logits: UnsafePointer<F>, targets: UnsafePointer<Int32>, losses: UnsafeMutablePointer<F>, lse: UnsafeMutablePointer<F>,
        rows n: Int, vocab v: Int
    ) {
        for i in 0..<n {
            let li = logits + i * v
            var m = -F.infinity
            for j in 0..<v { m = max(m, li[j]) }
            var s: F = 0
            for j in 0..<v { s += F.exp(li[j] - m) }
            let l = m + F.log(s)
            lse[i] = l
            let t = Int(targets[i])
            losses[i] = t >= 0 && t < v ? l - li[t] : 0
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(
        dlosses: UnsafePointer<F>, logits: UnsafePointer<F>, targets: UnsafePointer<Int32>, lse: UnsafePointer<F>,
        dlogits: UnsafeMutablePointer<F>, rows n: Int, vocab v: Int
    ) {
        for i in 0..<n {
            let t = Int(targets[i])
            guard t >= 0 && t < v else { continue }
            let li = logits + i * v, di = dlogits + i * v, g = dlosses[i], l = lse[i]
            for j in 0..<v { di[j] += g * F.exp(li[j] - l) }
            di[t] -= g
        }
    }
}
