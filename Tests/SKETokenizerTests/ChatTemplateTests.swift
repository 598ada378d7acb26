import Foundation
import Testing
@testable import SKETokenizer

/// The Jinja interpreter against Python's jinja2 set up as transformers sets it up
/// (tools/reference/make_chat_template_fixtures.py wrote Fixtures/chat-templates/expected.json).
@Suite struct ChatTemplateTests {
    static let directory = "Fixtures/chat-templates"

    static func load(_ name: String) throws -> Data {
        try Data(contentsOf: try #require(Bundle.module.url(forResource: directory + "/" + name, withExtension: nil)))
    }

    /// The conversations of the fixture script, in the same key order (tojson keeps it).
    static let tools: JinjaValue = JinjaValue([[
        ("type", "function"),
        ("function", [
            ("name", "get_weather"), ("description", "Current weather in a city, in °C."),
            ("parameters", [
                ("type", "object"),
                ("properties", [("city", [("type", "string"), ("description", "City name")] as [(String, Any?)]),
                                ("days", [("type", "integer")] as [(String, Any?)])] as [(String, Any?)]),
                ("required", ["city"]),
            ] as [(String, Any?)]),
        ] as [(String, Any?)]),
    ] as [(String, Any?)]])

    static let cases: [String: (messages: [ChatMessage], generation: Bool, tools: Bool)] = [
        "user": ([ChatMessage(role: "user", content: "Hello!")], true, false),
        "system_user": ([ChatMessage(role: "system", content: "You are terse."), ChatMessage(role: "user", content: "What is 2+2?")], true, false),
        "multi_turn": ([ChatMessage(role: "system", content: "  Be kind.  "), ChatMessage(role: "user", content: "Hi there"),
                        ChatMessage(role: "assistant", content: "Hello! How can I help? 😊"),
                        ChatMessage(role: "user", content: "Tell me a joke\nabout cats.")], true, false),
        "no_generation_prompt": ([ChatMessage(role: "user", content: "Q?"), ChatMessage(role: "assistant", content: "A.")], false, false),
        "tools": ([ChatMessage(role: "user", content: "Weather in Paris?")], true, true),
    ]

    static func render(_ template: ChatTemplate, _ caseName: String) throws -> String {
        let c = cases[caseName]!
        var variables: [String: JinjaValue] = ["date_string": .string("26 Nov 2026")]
        if c.tools { variables["tools"] = tools }
        let fixed = Date(timeIntervalSince1970: 1_795_651_200)   // 2026-11-26 00:00 UTC, as the fixture script
        return try template.render(c.messages, addGenerationPrompt: c.generation, bosToken: "<s>", eosToken: "</s>",
                                   variables: variables, now: { fixed })
    }

    static let expected: [String: [String: [String: String]]] = {
        (try? JSONDecoder().decode([String: [String: [String: String]]].self, from: load("expected.json"))) ?? [:]
    }()

    @Test func fixturesLoaded() {
        #expect(Self.expected.count >= 70)
    }

    /// Every template (71: llama.cpp's collection, the shared references, SmolLM2's GGUF template) renders
    /// every conversation byte for byte as jinja2 does, or refuses it where jinja2 raises.
    @Test(arguments: expected.keys.sorted())
    func rendersLikeJinja2(_ file: String) throws {
        let source = String(decoding: try Self.load(file), as: UTF8.self)
        let template = try ChatTemplate(source: source, name: file)
        for (caseName, want) in Self.expected[file]!.sorted(by: { $0.key < $1.key }) {
            if let output = want["output"] {
                let got = try Self.render(template, caseName)
                #expect(got == output, "\(file) / \(caseName)")
            } else {
                #expect(throws: JinjaError.self, "\(file) / \(caseName) should fail: \(want["error"] ?? "")") {
                    try Self.render(template, caseName)
                }
            }
        }
    }

    @Test func gemmaBuiltinMatchesGemmasOwnTemplate() throws {
        let own = try ChatTemplate(source: String(decoding: try Self.load("google-gemma-2-2b-it.jinja"), as: UTF8.self))
        let builtin = try ChatTemplate.builtin("gemma")
        for c in ["user", "no_generation_prompt"] {
            #expect(try Self.render(builtin, c) == (try Self.render(own, c)).replacingOccurrences(of: "<s>", with: ""))
        }
        // Gemma has no system role: the built-in folds it into the first user turn, as llama.cpp does.
        let folded = try builtin.render([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi")])
        #expect(folded == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test func chatmlBuiltin() throws {
        let out = try ChatTemplate.builtin("chatml").render([ChatMessage(role: "user", content: "Hi")])
        #expect(out == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(ChatTemplate.fallbackName(architecture: "gemma3") == "gemma")
        #expect(ChatTemplate.fallbackName(architecture: "llama") == "chatml")
        #expect(throws: JinjaError.self) { try ChatTemplate.builtin("nope") }
    }

    @Test func expressions() throws {
        func eval(_ s: String) throws -> String { try ChatTemplate(source: s).render([]) }
        #expect(try eval("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 1 / 2 }} {{ 3 * 'ab' }}") == "3 -4 -2 1024 0.5 ababab")
        #expect(try eval("{{ [1,2,3,4][::-1] }} {{ 'hello'[1:3] }} {{ [1,2,3][-1] }} {{ {'a': 1}['a'] }}") == "[4, 3, 2, 1] el 3 1")
        #expect(try eval("{{ 'a' ~ 1 ~ none }} {{ none }} {{ true }} {{ [1, 'x', none] }}") == "a1None None True [1, 'x', None]")
        #expect(try eval("{{ 'x' if 1 > 2 else 'y' }}{{ 'z' if false }}|{{ not 1 in [1] }}|{{ 2 not in [1] }}") == "y|False|True")
        #expect(try eval("{{ ' a b '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'abc'.startswith(('x', 'a')) }}")
                == "a b|['a', 'b', '', 'c']|['a', 'b']|True")
        #expect(try eval("{{ {'b': [1, 2], 'a': 'é\"\\n'} | tojson }}") == "{\"b\": [1, 2], \"a\": \"é\\\"\\n\"}")
        #expect(try eval("{{ {'b': [1]} | tojson(indent=2) }}") == "{\n  \"b\": [\n    1\n  ]\n}")
        #expect(try eval("{{ 'Hi {} and {name}'.format(1, name='x') }}|{{ '%s-%d' % ('a', 3) }}") == "Hi 1 and x|a-3")
        #expect(try eval("{% set ns = namespace(n=0) %}{% for i in range(5) if i is odd %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "4")
        #expect(try eval("{% for i in [1,2,3] %}{% if i == 2 %}{% continue %}{% endif %}{{ i }}{{ loop.cycle('a','b') }}{% endfor %}") == "1a3a")
        #expect(try eval("{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}") == "x=1;y=2;")
        #expect(try eval("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}") == "1")
        #expect(try eval("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}") == "[1B][12]")
        #expect(try eval("{{ [3,1,2] | sort | join(',') }} {{ [{'n': 'b'}, {'n': 'a'}] | map(attribute='n') | join }}") == "1,2,3 ba")
        #expect(try eval("{{ [1,none,2] | select('none') | list | length }} {{ 'a\nb' | indent(2, true) }}") == "1   a\n  b")
        #expect(try eval("{{ undefined_thing }}|{{ undefined_thing is defined }}|{{ undefined_thing | default('d') }}") == "|False|d")
        #expect(try eval("  {% if true %}\n  x\n  {% endif %}\n") == "  x\n")   // trim_blocks + lstrip_blocks
        #expect(try eval("a  {{- ' b ' -}}  c") == "a b c")
    }

    @Test func errorsAreTyped() throws {
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{% if x %}never closed") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 'unterminated }}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{% include 'x' %}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ x.y }}").render([]) }
        #expect(throws: JinjaError.raised("no")) { try ChatTemplate(source: "{{ raise_exception('no') }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 1 + 'a' }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ range(10000000000) }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ " + String(repeating: "(", count: 100_000) + "1 }}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: String(repeating: "{% if true %}", count: 100_000)) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ " + String(repeating: "not ", count: 100_000) + "x }}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ " + String(repeating: "- ", count: 100_000) + "1 }}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 'ab' * 1000000000000 }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 9223372036854775807 + 1 }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 10 ** 100 }}").render([]) }
        #expect(throws: JinjaError.self) { try ChatTemplate(source: "{{ 1 // 0 }}").render([]) }
    }
}
