import Bytecode
import NPY
import ONNXFrontend
import TestSupport
import Testing

/// Tests/FailCases: inputs that once broke a decoder or must be rejected cleanly (see its
/// README). Each file goes to the decoder its extension names and must end in that
/// decoder's error, with a one-line message: no crash, no hang, no other error type.
enum FailCases {
    static let folder = "\(repositoryRoot)/Tests/FailCases"
    /// The valid program every .mpcw case is decoded against.
    static let referenceProgram = "\(folder)/Reference/program.mpcb"
    static let extensions = ["onnx", "npy", "mpcb", "mpcw"]

    /// The cases: the files directly in the folder with a decoder's extension.
    static func all() -> [String] {
        listDirectory(folder).filter { extensions.contains(fileExtension($0)) }.sorted()
    }

    static func fileExtension(_ name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return String(name[name.index(after: dot)...])
    }

    /// The message of the error that decoding the case `name` throws, or nil (with an
    /// issue recorded) when it decodes or throws an error of the wrong type.
    static func rejection(of name: String) throws -> String? {
        let path = "\(folder)/\(name)"
        switch fileExtension(name) {
        case "onnx":
            return cleanError(ImportError.self, name) { _ = try importONNX(path: path) }
        case "npy":
            return cleanError(NPYError.self, name) { _ = try NPYArray.read(path: path) }
        case "mpcb":
            let bytes = try #require(readFile(path))
            return cleanError(BytecodeError.self, name) { _ = try Program(decoding: bytes, name: name) }
        default:
            let bytes = try #require(readFile(path))
            let program = try Program(decoding: try #require(readFile(referenceProgram)))
            return cleanError(BytecodeError.self, name) { _ = try WeightFile(decoding: bytes, for: program, name: name) }
        }
    }

    static func cleanError<Clean: Error & CustomStringConvertible>(_ clean: Clean.Type, _ name: String, _ decode: () throws -> Void) -> String? {
        do {
            try decode()
            Issue.record("\(name) decoded without an error")
        } catch let error as Clean {
            return error.description
        } catch {
            Issue.record("\(name) threw \(type(of: error)) instead of \(Clean.self): \(error)")
        }
        return nil
    }
}

@Suite struct FailCaseReplayTests {
    @Test(.timeLimit(.minutes(1)), arguments: FailCases.all())
    func isRejectedCleanly(_ name: String) throws {
        guard let message = try FailCases.rejection(of: name) else { return }
        #expect(!message.isEmpty && !message.contains("\n"), "\(name): \(message)")
    }

    /// The folder is found, holds cases for every decoder, and nothing else but its
    /// README and the reference program (a case with a typo in its extension would
    /// otherwise be skipped without a word).
    @Test func folderHoldsOnlyCases() throws {
        let names = listDirectory(FailCases.folder)
        for ext in FailCases.extensions {
            #expect(names.contains { FailCases.fileExtension($0) == ext }, "no .\(ext) case in Tests/FailCases")
        }
        for name in names where !FailCases.extensions.contains(FailCases.fileExtension(name)) {
            #expect(["README.md", "Reference"].contains(name), "Tests/FailCases/\(name) has no decoder")
        }
        _ = try Program(decoding: try #require(readFile(FailCases.referenceProgram)))
    }
}
