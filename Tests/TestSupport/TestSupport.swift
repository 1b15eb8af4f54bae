#if canImport(Glibc)
import Glibc
#endif
import IR
import NPY
import SharedKernels

// Helpers shared by the test targets: repository paths, fixture lists, file I/O without
// Foundation, and a seeded generator.

/// The repository root (tests read Models/ and IR/ from it).
public let repositoryRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
    return path
}()

public func modelsPath(_ relative: String) -> String { "\(repositoryRoot)/Models/\(relative)" }

/// Whole-model fixtures (Models/<name>/model.onnx).
public let wholeModels = [
    "tiny_resnet", "tiny_mobilenetv2", "odd_shapes", "tiny_segnet", "dynamo_external", "opset9_legacy", "shufflenet_block",
    "tiny_resnet_avgpool", "tiny_mobilenetv2_relu", "tiny_deeplab", "tiny_deeplab_mobilenetv2",
    "tiny_se_resnet", "tiny_mobilenetv3", "tiny_lraspp",
]

/// Op-level fixtures (Models/ops/<name>/model.onnx), listed from the folder.
public func opFixtures() -> [String] { listDirectory(modelsPath("ops")).sorted() }

public func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names
}

public func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        bytes += chunk[0..<count]
        if count < chunk.count { break }
    }
    return bytes
}

public func writeFile(_ path: String, _ bytes: [UInt8]) {
    let file = fopen(path, "wb")!
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A fresh scratch directory for one test.
public func temporaryDirectory() -> String {
    var template = Array("/tmp/mpcc-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    return path
}

/// The tests' name for the shared seeded generator (mutation tests, random data).
public typealias SeededGenerator = SplitMix

extension SplitMix {
    public init(state: UInt64) { self.init(seed: state) }
}

public func getenvString(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

public func makeDirectories(_ path: String) {
    var current = ""
    for part in path.split(separator: "/") {
        current += "/" + part
        mkdir(current, 0o755)
    }
}

/// Every fixture folder: whole models, op-level models (`ops/...`), and the Split and
/// block fixtures added since.
public func allFixtures() -> [String] { wholeModels + opFixtures().map { "ops/\($0)" } }

extension NPYArray {
    /// The array as an IR tensor.
    public var tensor: Tensor {
        switch data {
        case .float32(let values): return Tensor(shape: shape, floats: values)
        case .int64(let values): return Tensor(shape: shape, ints: values)
        }
    }
}

/// The paths of the files below `path` (in every subfolder) whose names end in `suffix`,
/// relative to `path`, sorted.
public func files(below path: String, endingIn suffix: String) -> [String] {
    listDirectory(path).flatMap { name -> [String] in
        if let directory = opendir("\(path)/\(name)") {
            closedir(directory)
            return files(below: "\(path)/\(name)", endingIn: suffix).map { "\(name)/\($0)" }
        }
        return name.hasSuffix(suffix) ? [name] : []
    }.sorted()
}

/// A test file that does not have the layout its folder's README describes.
public struct TestFileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One pass test (Tests/PassesTests/Cases/<pass>/<case>.ir): a first line `// RUN: OPTIONS`
/// with mpcc's pass options, the input graph, a line `// EXPECTED:`, and then exactly what
/// `mpcc CASE.ir OPTIONS --emit ir` prints.
public struct PassCase {
    public static let folder = "\(repositoryRoot)/Tests/PassesTests/Cases"
    public static let runPrefix = "// RUN:"
    public static let expectedMarker = "// EXPECTED:"

    /// Relative to `folder`: `<pass>/<case>.ir`.
    public var name: String
    /// The options of the RUN line, split at spaces.
    public var options: [String]
    /// The text up to the marker, RUN line included (a comment to the parser), so parse
    /// errors give the file's line numbers.
    public var input: String
    /// The text after the marker line; nil before the case's first update.
    public var expected: String?

    public static func all() -> [String] { files(below: folder, endingIn: ".ir") }

    public var path: String { "\(PassCase.folder)/\(name)" }

    public init(_ name: String) throws {
        self.name = name
        guard let bytes = readFile("\(PassCase.folder)/\(name)") else { throw TestFileError("cannot read \(name)") }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix(PassCase.runPrefix) else { throw TestFileError("\(name) does not start with '\(PassCase.runPrefix)'") }
        let runLine = text.prefix { $0 != "\n" }.dropFirst(PassCase.runPrefix.count)
        options = runLine.split(separator: " ").map(String.init)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let marker = lines.firstIndex(where: { $0 == PassCase.expectedMarker }) else {
            input = text
            return
        }
        input = lines[..<marker].map { $0 + "\n" }.joined()
        expected = lines[(marker + 1)...].joined(separator: "\n")
    }

    /// The file's text with `output` as its expected section.
    public func updated(expected output: String) -> String {
        input + PassCase.expectedMarker + "\n" + output
    }
}
