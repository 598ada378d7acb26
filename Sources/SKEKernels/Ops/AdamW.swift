// AdamW with PyTorch's semantics (torch.optim.AdamW, decoupled weight decay, bias-corrected):
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)          (t = step, starting at 1)
// Shapes: p, g, m, v [N]. m and v start at zero. Not done: amsgrad, maximize, fused multi-tensor launch.

public struct AdamWParameters: Sendable {
    public var lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public init(lr: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

public enum AdamW {
    public static func update(params p: UnsafeMutablePointer<Float>, grads g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                              v: UnsafeMutablePointer<Float>, count n: Int, step t: Int, _ h: AdamWParameters) {
        let bc1 = 1 - Float(Double(h.beta1).pow(t)), bc2 = 1 - Float(Double(h.beta2).pow(t))
        let stepSize = h.lr / bc1, bc2Sqrt = bc2.squareRoot(), decay = 1 - h.lr * h.weightDecay
        for i in 0..<n {
            p[i] *= decay
            m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i]
            v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i]
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + h.eps)
        }
    }
}

extension Double {
    func pow(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= self }
        return r
    }
}
