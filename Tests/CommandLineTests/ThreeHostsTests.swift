import Foundation
import NPY
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where `ip` is, if this machine has it.
let ipTool: String? = {
    let candidates: [String] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Whether this test can make network namespaces: root and a working `ip netns`.
let canMakeNamespaces: Bool = {
    guard getuid() == 0, let ip = ipTool else { return false }
    let name = "mpcr-probe-\(getpid())"
    defer { _ = try? runCommand(ip, ["netns", "del", name]) }
    return (try? runCommand(ip, ["netns", "add", name]))?.status == 0
}()

/// Runs a command to its end: its exit status and standard error.
func runCommand(_ path: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

/// Three hosts for real: the client, the server and the helper each in a network
/// namespace of their own with its own address, joined by veth pairs to a bridge in a
/// fourth namespace (10.213.N.0/24, inside this test's namespaces only). The server and
/// the helper run `mpcr serve`, two clients `mpcr party`, one after the other and at
/// once; both get the emulator's outputs. Needs root and `ip netns`; skipped otherwise.
@Suite(.serialized, .enabled(if: canMakeNamespaces, "needs root and ip netns to make three network namespaces"))
struct ThreeHostsTests {
    @Test func serveAndPartyAcrossThreeNamespaces() throws {
        let ip = ipTool!
        let tag = "\(getpid() % 10000)", subnet = "10.213.\(getpid() % 250)"
        let names = ["switch", "client", "server", "helper"].map { "mpcr-\($0)-\(tag)" }
        defer { for name in names { _ = try? runCommand(ip, ["netns", "del", name]) } }
        func ipRun(_ arguments: [String]) throws {
            let result = try runCommand(ip, arguments)
            #expect(result.status == 0, "ip \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        for name in names { try ipRun(["netns", "add", name]) }
        try ipRun(["-n", names[0], "link", "add", "br0", "type", "bridge"])
        try ipRun(["-n", names[0], "link", "set", "br0", "up"])
        for (index, name) in names.enumerated().dropFirst() {
            try ipRun(["link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", "port\(index)", "netns", names[0]])
            try ipRun(["-n", names[0], "link", "set", "port\(index)", "master", "br0", "up"])
            try ipRun(["-n", name, "addr", "add", "\(subnet).\(index)/24", "dev", "eth0"])
            try ipRun(["-n", name, "link", "set", "eth0", "up"])
            try ipRun(["-n", name, "link", "set", "lo", "up"])
        }
        let directory = temporaryDirectory()
        let program = "\(directory)/mnist.mpcb"
        let compiled = try run("mpcc", [modelsPath("mnist_resnet/model.onnx"), "--keep-maxpool", "--exact-truncation", "-o", program])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        var keys: [String: String] = [:]
        for role in ["client", "server", "helper"] {
            let printed: String = try run("mpcr", ["keygen", "\(directory)/\(role).key"]).stdout
            keys[role] = String(printed.filter { $0.isHexDigit })
        }
        let config = """
            {"timeout_seconds": 30, "connect_timeout_seconds": 15, "parties": {
              "client": {"host": "\(subnet).1", "public_key": "\(keys["client"]!)", "private_key_file": "client.key"},
              "server": {"host": "\(subnet).2", "port": 7001, "public_key": "\(keys["server"]!)", "private_key_file": "server.key"},
              "helper": {"host": "\(subnet).3", "port": 7002, "public_key": "\(keys["helper"]!)", "private_key_file": "helper.key"}}}
            """
        writeFile("\(directory)/parties.json", Array(config.utf8))
        let input = "\(directory)/x.npy"
        let images = try NPYArray.read(path: modelsPath("mnist_resnet/test.npy"))
        try NPYArray(shape: [4] + images.shape.dropFirst(), float32: Array(images.floats.prefix(4 * 784))).write(path: input)
        #expect(try run("mpcr", ["emulate", program, "--input", input, "--output", "\(directory)/expected.npy"]).status == 0)
        let server = start("mpcr", ["serve", "--role", "server", "--config", "\(directory)/parties.json", "--program", program, "--weights", "\(directory)/mnist.mpcw"],
                           in: directory, name: "server", namespace: names[2])
        let helper = start("mpcr", ["serve", "--role", "helper", "--config", "\(directory)/parties.json", "--program", program], in: directory, name: "helper", namespace: names[3])
        defer {
            kill(server.pid, SIGKILL)
            kill(helper.pid, SIGKILL)
            _ = server.wait(seconds: 5)
            _ = helper.wait(seconds: 5)
        }
        func client(_ name: String) -> Started {
            start("mpcr", ["party", "--role", "client", "--config", "\(directory)/parties.json", "--program", program, "--input", input, "--output", "\(directory)/\(name).npy"],
                  in: directory, name: name, namespace: names[1])
        }
        let first = client("first")
        #expect(first.wait(seconds: 60) == 0, "\(contents(first.stderr))\n\(contents("\(directory)/server.err"))\n\(contents("\(directory)/helper.err"))")
        let together = [client("second"), client("third")]
        for started in together { #expect(started.wait(seconds: 60) == 0, "\(contents(started.stderr))") }
        let expected = readFile("\(directory)/expected.npy")
        for name in ["first", "second", "third"] { #expect(readFile("\(directory)/\(name).npy") == expected, "\(name)'s outputs differ from the emulator's") }
        // The clients reached the server from the client namespace's own address.
        #expect(contents("\(directory)/server.out").components(separatedBy: "from \(subnet).1:").count - 1 == 3, "\(contents("\(directory)/server.out"))")
        kill(server.pid, SIGTERM)
        kill(helper.pid, SIGTERM)
        #expect(server.wait(seconds: 20) == 0 && helper.wait(seconds: 20) == 0)
    }
}

/// scripts/load-test.sh on a small load (4 clients, 3 inferences each) with the debug
/// executables: outputs equal the emulator's, a killed client, 1,000 junk connections
/// and a killed helper leave the server serving. The clients' stop after the helper's
/// death may take longer than the release build's 5 s while other suites load the cores.
@Suite(.serialized) struct LoadScriptTests {
    @Test func theLoadScriptPasses() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["\(repositoryRoot)/scripts/load-test.sh", "4", "3"]
        process.environment = ProcessInfo.processInfo.environment.merging(["BIN": binaryDirectory, "STOP_WITHIN": "60"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("load-test: passed"), "\(text)")
    }
}
