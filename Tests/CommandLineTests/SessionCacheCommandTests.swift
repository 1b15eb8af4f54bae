import Foundation
import NPY
import TestSupport
import Testing

/// `--session-cache` over TCP: a second `mpcr local` with the same directory resumes the
/// session (no weight masks; the same output as the emulator), and the flags are checked.
@Suite struct SessionCacheCommandTests {
    @Test func aSecondLocalRunResumesItsSession() throws {
        let directory = temporaryDirectory()
        let program = "\(directory)/p.mpcb", input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        #expect(try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "--exact-truncation", "-o", program]).status == 0)
        #expect(try run("mpcr", ["emulate", program, "--input", input, "--output", "\(directory)/plain.npy"]).status == 0)
        let plain = try NPYArray.read(path: "\(directory)/plain.npy").floats
        var serverSetupBytes: [Int] = []
        for attempt in 0..<2 {
            let result = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/secure.npy", "--report", "\(directory)/r.json",
                                          "--session-cache", "\(directory)/sessions"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("(resumed)") == (attempt == 1), "run \(attempt): \(result.stdout)")
            #expect(try NPYArray.read(path: "\(directory)/secure.npy").floats == plain, "run \(attempt): exact truncation, so equal to the emulator")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contents("\(directory)/r.json").utf8)) as? [String: Any])
            #expect(json["bytes_sent"] as? Int == json["predicted_bytes"] as? Int, "run \(attempt)")
            serverSetupBytes.append(try #require((json["server"] as? [String: Any])?["session_bytes"] as? Int))
        }
        #expect(serverSetupBytes[1] < 100 && serverSetupBytes[0] > 10_000, "\(serverSetupBytes)")
    }

    /// A cache path that is a file is refused with one sentence before the parties wait on each other.
    @Test func aFileAsTheCacheIsRefused() throws {
        let directory = temporaryDirectory()
        let program = "\(directory)/p.mpcb", input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        #expect(try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "-o", program]).status == 0)
        #expect(FileManager.default.createFile(atPath: "\(directory)/file", contents: Data()))
        let whole = try run("mpcr", ["local", program, "--input", input, "--session-cache", "\(directory)/file"])
        #expect(whole.status == 1 && whole.stderr.contains("is a file, not a directory"), "\(whole.stderr)")
        try FileManager.default.createDirectory(atPath: "\(directory)/cache", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(directory)/cache/client", contents: Data()))
        let client = try run("mpcr", ["local", program, "--input", input, "--session-cache", "\(directory)/cache"])
        #expect(client.status == 1 && client.stderr.contains("cache/client is a file, not a directory"), "\(client.stderr)")
    }

    @Test(arguments: [
        (["party", "--role", "client", "--config", "p.json", "--program", "p.mpcb", "--input", "x.npy", "--session-lifetime", "60"], "only the server and the helper set --session-lifetime"),
        (["party", "--role", "server", "--config", "p.json", "--program", "p.mpcb", "--weights", "p.mpcw", "--session-lifetime", "0"], "--session-lifetime must be above 0"),
        (["local", "p.mpcb", "--input", "x.npy", "--session-lifetime", "2592001"], "--session-lifetime must be above 0"),
    ])
    func badSessionFlagsAreRefused(_ arguments: [String], _ message: String) throws {
        let result = try run("mpcr", arguments)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
