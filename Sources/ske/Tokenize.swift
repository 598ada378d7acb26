// `ske tokenize`: text → token ids (or pieces) with a model's tokenizer, flags as llama.cpp's llama-tokenize.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tokenize text with a model's tokenizer (prompt, --file, or stdin).")

    @OptionGroup var model: ModelOption
    @Option(name: [.short, .customLong("prompt")], help: "Text to tokenize.") var prompt: String?
    @Option(name: .customLong("file"), help: "Read the text from this file.") var file: String?
    @Flag(help: "Print only the ids, separated by spaces.") var ids = false
    @Flag(name: .customLong("no-special"), help: "Do not add BOS/EOS.") var noSpecial = false
    @Flag(name: .customLong("parse-special"), help: "Turn control-token text (e.g. <|im_start|>) into its id.") var parseSpecial = false

    func run() throws {
        try reportingErrors {
            let text: String
            if let prompt { text = prompt } else if let file {
                guard let d = FileManager.default.contents(atPath: file) else { throw FormatError.io(path: file, operation: "read", errno: ENOENT) }
                text = String(decoding: d, as: UTF8.self)
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let f = try ModelFile.open(model.path)
            let tok: Tokenizer
            do { tok = try Tokenizer.load(from: f) } catch let e as TokenizerError {
                FileHandle.standardError.write(Data("error: \(e)\n".utf8))
                throw ExitCode(1)
            }
            let out = tok.encode(text, addSpecial: !noSpecial, parseSpecial: parseSpecial)
            if ids {
                print(out.map(String.init).joined(separator: " "))
            } else {
                for id in out { print("\(id)".leftPadded(7) + " -> '" + String(decoding: tok.pieceBytes(id, special: true), as: UTF8.self) + "'") }
            }
        }
    }
}
