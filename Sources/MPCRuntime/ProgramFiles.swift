import Bytecode
import Foundation

/// Reads .mpcb and .mpcw files (untrusted: the decoders check everything).
public enum ProgramFiles {
    public static func readProgram(path: String) throws -> Program {
        try Program(decoding: try read(path), name: path)
    }

    /// The weights for `program`: `path`, or the .mpcw beside the program.
    public static func readWeights(path: String?, programPath: String, for program: Program) throws -> WeightFile {
        let weightsPath = path ?? WeightFile.path(forProgram: programPath)
        return try WeightFile(decoding: try read(weightsPath), for: program, name: weightsPath)
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BytecodeError("cannot read \(path)")
        }
        return [UInt8](data)
    }
}
