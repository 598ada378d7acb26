// Qwen2: Llama's block with biases on the Q/K/V projections (read from the file) and RoPE in the NEOX layout.
import SKEGraph
import SKEKernels

public enum Qwen2: Architecture {
    public static let name = "qwen2"
    public static func build(_ c: ModelConfig, _ b: GraphBuilder) throws -> Int {
        try Decoder.standard(c, b, layout: .neox, qkNorm: false)
    }
}
