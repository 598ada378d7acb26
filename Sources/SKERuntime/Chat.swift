import SKEFormats
import SKETokenizer

/// A conversation with a model: history, the model's chat template, and a KV cache that keeps the earlier
/// turns (each reply evaluates only the tokens after the longest prefix already cached).
public final class ChatSession {
    public let engine: Engine
    public let template: ChatTemplate
    public private(set) var messages: [ChatMessage] = []
    public var system: String?

    /// Why the model's own template was not used (it did not parse), if so.
    public let templateWarning: String?

    /// `template` defaults to the GGUF's `tokenizer.chat_template`, else the built-in for the architecture.
    public init(engine: Engine, template: ChatTemplate? = nil, system: String? = nil) throws {
        self.engine = engine
        self.system = system
        if let template {
            self.template = template
            templateWarning = nil
        } else {
            (self.template, templateWarning) = try Self.defaultTemplate(metadata: engine.file.metadata, architecture: engine.config.architecture)
        }
    }

    /// The model's template, or — when it has none, or one this interpreter cannot parse — the built-in for the
    /// architecture, with a warning saying why (llama.cpp also falls back rather than refusing to chat).
    public static func defaultTemplate(metadata: GGUFMetadata, architecture: String) throws -> (ChatTemplate, warning: String?) {
        let fallback = { try ChatTemplate.builtin(ChatTemplate.fallbackName(architecture: architecture)) }
        guard let source = metadata.string("tokenizer.chat_template") else { return (try fallback(), nil) }
        do {
            return (try ChatTemplate(source: source, name: "gguf"), nil)
        } catch {
            let t = try fallback()
            return (t, "the model's chat template cannot be used (\(error)); using the built-in '\(t.name)'")
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
        let bos = token(t.settings.bos), eos = token(t.settings.eos)
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
