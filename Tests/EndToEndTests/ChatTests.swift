// Chat sessions on the real models: the template in the GGUF (SmolLM2) or the built-in (Gemma 3), and the KV
// cache kept between turns giving exactly what recomputing the whole conversation gives.
import Foundation
import Testing
import SKEFormats
import SKETokenizer
import SKERuntime

@Suite("Chat sessions", .serialized, .enabled(if: E2E.enabled, "run scripts/fetch-models.sh"))
struct ChatTests {
    @Test(arguments: ["smollm2", "gemma3"])
    func cachedTurnsEqualRecompute(_ model: String) throws {
        let e = try E2E.engine(model, .quantized, context: 512)
        let chat = try ChatSession(engine: e)
        #expect(chat.template.name == (model == "smollm2" ? "gguf" : "gemma"))
        var g = GenerationOptions()
        g.maxTokens = 12; g.sampling = .greedy
        _ = try chat.respond(to: "What is the capital of France?", g)
        let second = try chat.respond(to: "And of Italy?", g)
        #expect(second.reusedTokens > 10)   // the first turn stayed in the cache
        #expect(chat.messages.count == 4)

        // The same conversation from an empty cache.
        let fresh = try E2E.engine(model, .quantized, context: 512)
        let again = try fresh.generate(promptIDs: second.promptIDs, g)
        #expect(again.generatedIDs == second.generatedIDs)

        chat.reset()
        #expect(chat.messages.isEmpty && e.position == 0)
    }

    @Test func promptFollowsTheTemplate() throws {
        let e = try E2E.engine("gemma3", .quantized, context: 256)
        let chat = try ChatSession(engine: e, system: "Be brief.")
        var g = GenerationOptions()
        g.maxTokens = 1; g.sampling = .greedy
        let r = try chat.respond(to: "Hi", g)
        let text = e.tokenizer.decode(r.promptIDs, special: true)
        #expect(text == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
        #expect(r.promptIDs.filter { $0 == e.tokenizer.settings.bos }.count == 1)
    }

    @Test func unusableTemplateFallsBackToTheBuiltIn() throws {
        var md = GGUFMetadata()
        md["tokenizer.chat_template"] = .string("{% for m in messages %}{{ m.content }")   // never closed
        let (t, warning) = try ChatSession.defaultTemplate(metadata: md, architecture: "gemma3")
        #expect(t.name == "gemma" && warning?.contains("cannot be used") == true)
        md["tokenizer.chat_template"] = .string("{{ messages[0].content }}")
        let (own, none) = try ChatSession.defaultTemplate(metadata: md, architecture: "llama")
        #expect(own.name == "gguf" && none == nil)
        let (plain, _) = try ChatSession.defaultTemplate(metadata: GGUFMetadata(), architecture: "qwen3")
        #expect(plain.name == "chatml")
    }

    @Test func contextFullKeepsHistory() throws {
        let e = try E2E.engine("smollm2", .quantized, context: 48)
        let chat = try ChatSession(engine: e)
        var g = GenerationOptions()
        g.maxTokens = 4
        #expect(throws: RuntimeError.self) { try chat.respond(to: String(repeating: "word ", count: 60), g) }
        #expect(chat.messages.isEmpty)   // the refused turn was taken back
    }
}
