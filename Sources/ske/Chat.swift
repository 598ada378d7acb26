// ske chat: an interactive conversation on stdin/stdout (works piped too). /reset forgets, /exit quits.
import ArgumentParser
import Foundation
import SKEFormats
import SKERuntime
import SKETokenizer

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model: renders its chat template, keeps the history and the KV cache between turns.",
        discussion: "Type a message and press Enter. /reset starts over, /exit (or end of input) quits.")
    @OptionGroup var model: ModelOption
    @Option(name: [.short, .customLong("n-predict")], help: "Most tokens per reply.") var n: Int = 512
    @Option(name: .customLong("system"), help: "System message.") var system: String?
    @Option(name: .customLong("chat-template"),
            help: "A built-in template (\(ChatTemplate.builtins.keys.sorted().joined(separator: ", "))) or a .jinja file; default: the model's own.")
    var chatTemplate: String?
    @OptionGroup var engine: EngineFlags
    @OptionGroup var sampling: SamplingFlags

    func run() throws {
        try reportingErrors {
            guard n >= 1 else { throw RuntimeError.invalidOption("-n must be at least 1") }
            let e = try Engine(path: model.path, options: try engine.options())
            var template: ChatTemplate? = nil
            if let chatTemplate {
                if ChatTemplate.builtins[chatTemplate] != nil {
                    template = try ChatTemplate.builtin(chatTemplate)
                } else {
                    guard let data = FileManager.default.contents(atPath: chatTemplate) else {
                        throw RuntimeError.invalidOption("--chat-template: '\(chatTemplate)' is neither a built-in nor a readable file")
                    }
                    template = try ChatTemplate(source: String(decoding: data, as: UTF8.self), name: chatTemplate)
                }
            }
            let session = try ChatSession(engine: e, template: template, system: system)
            var g = GenerationOptions()
            g.maxTokens = n; g.sampling = sampling.parameters
            let out = FileHandle.standardOutput, err = FileHandle.standardError
            if let warning = session.templateWarning { err.write(Data("warning: \(warning)\n".utf8)) }
            err.write(Data("chat template: \(session.template.name). /reset starts over, /exit quits.\n".utf8))
            while true {
                err.write(Data("> ".utf8))
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text == "/exit" || text == "/quit" { break }
                if text == "/reset" { session.reset(); err.write(Data("(history cleared)\n".utf8)); continue }
                do {
                    let r = try session.respond(to: text, g) { out.write(Data($0.utf8)) }
                    out.write(Data("\n".utf8))
                    err.write(Data(("[\(r.promptIDs.count - r.reusedTokens) new prompt tokens (\(r.reusedTokens) cached), " +
                        "\(r.generatedIDs.count) generated, \(formatFixed(r.decodeTokensPerSecond, 1)) tok/s]\n").utf8))
                } catch RuntimeError.contextFull(let needed, let context) {
                    err.write(Data("the conversation needs \(needed) positions but the context has \(context): /reset, or raise -c\n".utf8))
                } catch {
                    // The turn was taken back (e.g. the template refuses a role order); the session goes on.
                    err.write(Data("error: \(error)\n".utf8))
                }
            }
        }
    }
}
