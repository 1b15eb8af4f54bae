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
    "tiny_resnet_avgpool", "tiny_mobilenetv2_relu",
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
