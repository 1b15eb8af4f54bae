#if canImport(Glibc)
import Glibc
#endif

/// The repository root (tests read Models/ and IR/ from it).
let repositoryRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
    return path
}()

func modelsPath(_ relative: String) -> String { "\(repositoryRoot)/Models/\(relative)" }

/// Whole-model fixtures (Models/<name>/model.onnx).
let wholeModels = ["tiny_resnet", "tiny_mobilenetv2", "odd_shapes", "tiny_segnet", "dynamo_external", "opset9_legacy"]

/// Op-level fixtures (Models/ops/<name>/model.onnx), listed from the folder.
func opFixtures() -> [String] { listDirectory(modelsPath("ops")).sorted() }

func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names
}

func readFile(_ path: String) -> [UInt8]? {
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

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let file = fopen(path, "wb")!
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A fresh scratch directory for one test.
func temporaryDirectory() -> String {
    var template = Array("/tmp/mpcc-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    return path
}

/// A deterministic generator for mutation tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func getenvString(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

func makeDirectories(_ path: String) {
    var current = ""
    for part in path.split(separator: "/") {
        current += "/" + part
        mkdir(current, 0o755)
    }
}
