import TestSupport

/// Broken .npy files: preambles, headers NPYArray must refuse, cut data, other formats.
enum NPYCases {
    /// A version 1.0 file with `header` and two float32 values.
    static func npy(_ header: String) -> [UInt8] {
        let text = Array(header.utf8)
        let values: [Float] = [1, 2]
        return [0x93] + Array("NUMPY".utf8) + [1, 0] + littleEndian(UInt16(text.count)) + text + values.flatMap { littleEndian($0.bitPattern) }
    }

    static func all() throws -> [FailCase] {
        let headers: [(String, String)] = [
            ("float64", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"),
            ("big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"),
            ("shape-larger-than-data", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"),
            ("negative-dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"),
            ("huge-shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"),
            ("fortran-order-maybe", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }"),
            ("no-fortran-order", "{'descr': '<f4', 'shape': (2,), }"),
            ("shape-as-list", "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }"),
            ("header-not-a-dict", "not a dict at all"),
        ]
        let input = try readOrThrow(modelsPath("tiny_resnet/input.npy"))
        let preamble: [UInt8] = [0x93] + Array("NUMPY".utf8)
        return headers.map { ("npy-\($0.0).npy", npy($0.1)) } + [
            ("npy-empty.npy", []), ("npy-zeros-no-magic.npy", Array(repeating: 0, count: 20)),
            ("npy-header-length-beyond-the-file.npy", preamble + [1, 0, 200, 0, 123]), ("npy-version-9.npy", preamble + [9, 0, 0, 0]),
            ("npy-data-cut-short.npy", Array(input.prefix(1000))), ("npy-is-an-onnx-model.npy", try readOrThrow(modelsPath("ops/relu/model.onnx"))),
        ]
    }
}

func readOrThrow(_ path: String) throws -> [UInt8] {
    guard let bytes = readFile(path) else { throw TestFileError("cannot read \(path)") }
    return bytes
}
