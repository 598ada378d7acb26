import SKETokenizer

/// A conversation with a model: history, the model's chat template, and a KV cache that keeps the earlier
/// turns (each reply evaluates only the tokens after the longest prefix already cached).
public final class ChatSession {
    public let engine: Engine
    public let template: ChatTemplate
    public private(set) var messages: [ChatMessage] = []
    public var system: String?

    /// `template` defaults to the GGUF's `tokenizer.chat_template`, else the built-in for the architecture.
    public init(engine: Engine, template: ChatTemplate? = nil, system: String? = nil) throws {
        self.engine = engine
        self.system = system
        if let template {
            self.template = template
        } else if let source = engine.file.metadata.string("tokenizer.chat_template") {
            self.template = try ChatTemplate(source: source, name: "gguf")
        } else {
            self.template = try ChatTemplate.builtin(ChatTemplate.fallbackName(architecture: engine.config.architecture))
        }
    }

    /// Forgets the conversation (the cache is reset on the next reply).
    public func reset() {
        messages = []
        engine.reset()
    }

    /// The token ids of the conversation so far plus the assistant's turn opening.
    public func promptIDs() throws -> [Int32] {
        let t = engine.tokenizer
        let token = { (id: Int32?) in id.map { String(decoding: t.pieceBytes($0, special: true), as: UTF8.self) } ?? "" }
        let bos = token(t.data.bos), eos = token(t.data.eos)
        let turns = (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + messages
        let text = try template.render(turns, addGenerationPrompt: true, bosToken: bos, eosToken: eos)
        // A template that writes BOS itself must not get a second one from the tokenizer.
        let templateHasBOS = !bos.isEmpty && text.hasPrefix(bos)
        return t.encode(text, addSpecial: !templateHasBOS, parseSpecial: true)
    }

    /// Adds the user's turn, generates the reply (streamed to `onText`) and adds it to the history.
    /// If generation fails (context full, …) the user's turn is taken back.
    public func respond(to user: String, _ options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        messages.append(ChatMessage(role: "user", content: user))
        do {
            let ids = try promptIDs()
            let result = try engine.generate(promptIDs: ids, options, reuseCache: true, onText: onText)
            messages.append(ChatMessage(role: "assistant", content: result.text))
            return result
        } catch {
            messages.removeLast()
            throw error
        }
    }
}
