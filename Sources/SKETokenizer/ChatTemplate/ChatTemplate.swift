import Foundation

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A chat template: the GGUF's `tokenizer.chat_template` (Jinja) or a named built-in, rendered by
/// SKETokenizer's Jinja interpreter the way transformers' `apply_chat_template` renders it.
public struct ChatTemplate: @unchecked Sendable {
    /// "gguf", a built-in's name, or whatever the caller passed.
    public let name: String
    public let source: String
    private let nodes: [JinjaNode]

    /// Parses `source`; a syntax error or an unsupported tag is a `JinjaError` naming the line.
    public init(source: String, name: String = "custom") throws {
        var parser = try JinjaParser(source)
        self.nodes = try parser.parseTemplate()
        self.source = source
        self.name = name
    }

    /// Built-in templates (Jinja sources), for models whose GGUF has none. Names as llama.cpp's.
    public static let builtins: [String: String] = [
        // <|im_start|>role\ncontent<|im_end|>\n … <|im_start|>assistant\n
        "chatml": """
            {%- for m in messages -%}
            {{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
            """,
        // Gemma: no system role (its text goes before the first user turn), "assistant" is "model".
        "gemma": """
            {%- set ns = namespace(system='') -%}
            {%- for m in messages -%}
            {%- if m.role == 'system' -%}
            {%- set ns.system = ns.system + m.content | trim + '\\n\\n' -%}
            {%- else -%}
            {%- set role = 'model' if m.role == 'assistant' else m.role -%}
            {{- '<start_of_turn>' + role + '\\n' + (ns.system if role == 'user' else '') + m.content | trim + '<end_of_turn>\\n' -}}
            {%- if role == 'user' -%}{%- set ns.system = '' -%}{%- endif -%}
            {%- endif -%}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
            """,
        "llama3": """
            {%- for m in messages -%}
            {{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}
            """,
        "phi3": """
            {%- for m in messages -%}
            {{- '<|' + m.role + '|>\\n' + m.content + '<|end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}
            """,
        "zephyr": """
            {%- for m in messages -%}
            {{- '<|' + m.role + '|>\\n' + m.content + eos_token + '\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}
            """,
    ]

    /// The built-in named `name`, or an error listing the names there are.
    public static func builtin(_ name: String) throws -> ChatTemplate {
        guard let source = builtins[name] else {
            throw JinjaError.type("no built-in chat template named '\(name)' (built-ins: \(builtins.keys.sorted().joined(separator: ", ")))")
        }
        return try ChatTemplate(source: source, name: name)
    }

    /// The built-in used when a model's GGUF carries no template: by architecture, else ChatML (llama.cpp's default).
    public static func fallbackName(architecture: String) -> String {
        if architecture.hasPrefix("gemma") { return "gemma" }
        if architecture.hasPrefix("phi3") { return "phi3" }
        return "chatml"
    }

    /// Renders the conversation. `variables` adds or overrides template variables (`tools`, `enable_thinking`, …);
    /// `now` is what `strftime_now` formats.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, bosToken: String = "", eosToken: String = "",
                       variables: [String: JinjaValue] = [:], now: @escaping @Sendable () -> Date = { Date() }) throws -> String {
        let frame = JinjaFrame(parent: nil)
        JinjaGlobals.install(frame, now: now)
        frame.variables["messages"] = .array(messages.map { .object(JinjaObject([("role", .string($0.role)), ("content", .string($0.content))])) })
        frame.variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        frame.variables["bos_token"] = .string(bosToken)
        frame.variables["eos_token"] = .string(eosToken)
        for (k, v) in variables { frame.variables[k] = v }
        var out = ""
        var interpreter = JinjaInterpreter()
        _ = try interpreter.run(nodes, frame, &out)
        return out
    }
}
