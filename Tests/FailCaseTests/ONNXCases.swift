import ONNXFrontend
import TestSupport

/// Protobuf wire fields: enough of onnx.proto to build hostile models by hand.
enum Wire {
    static func key(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }
    static func int(_ field: Int, _ value: Int64) -> [UInt8] { key(field, 0) + varint(UInt64(bitPattern: value)) }
    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] { key(field, 2) + varint(UInt64(payload.count)) + payload }
    static func text(_ field: Int, _ value: String) -> [UInt8] { bytes(field, Array(value.utf8)) }
    static func float(_ field: Int, _ value: Float) -> [UInt8] { key(field, 5) + littleEndian(value.bitPattern) }
}

/// ONNX messages (field numbers from onnx.proto) and the broken models built from them.
enum ONNXCases {
    enum Attribute {
        case int(Int64), ints([Int64]), float(Float)
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], domain: String? = nil, _ attributes: [(String, Attribute)] = []) -> [UInt8] {
        var node = inputs.flatMap { Wire.text(1, $0) } + outputs.flatMap { Wire.text(2, $0) } + Wire.text(3, "\(op.lowercased())_node") + Wire.text(4, op)
        for (name, value) in attributes {
            var attribute = Wire.text(1, name)
            switch value {
            case .int(let int): attribute += Wire.int(20, 2) + Wire.int(3, int)
            case .ints(let ints): attribute += Wire.int(20, 7) + ints.flatMap { Wire.int(8, $0) }
            case .float(let float): attribute += Wire.int(20, 1) + Wire.float(2, float)
            }
            node += Wire.bytes(5, attribute)
        }
        return node + (domain.map { Wire.text(7, $0) } ?? [])
    }

    /// A tensor with raw little-endian data: float32 (type 1) or int64 (type 7).
    static func tensor(_ name: String, _ dims: [Int64], floats: [Float] = [], ints: [Int64] = []) -> [UInt8] {
        let data = ints.isEmpty ? floats.flatMap { littleEndian($0.bitPattern) } : ints.flatMap { littleEndian($0) }
        return dims.flatMap { Wire.int(1, $0) } + Wire.int(2, ints.isEmpty ? 1 : 7) + Wire.text(8, name) + Wire.bytes(9, data)
    }

    /// A float32 value; nil dimensions are symbolic, nil `dims` leaves the shape out.
    static func value(_ name: String, _ dims: [Int64?]?) -> [UInt8] {
        var tensorType = Wire.int(1, 1)
        if let dims {
            let shape = dims.enumerated().flatMap { axis, size in Wire.bytes(1, size.map { Wire.int(1, $0) } ?? Wire.text(2, "d\(axis)")) }
            tensorType += Wire.bytes(2, shape)
        }
        return Wire.text(1, name) + Wire.bytes(2, Wire.bytes(1, tensorType))
    }

    static let input = value("x", [1, 2, 4, 4]), output = value("y", nil)

    static func model(opset: Int64? = 13, _ nodes: [[UInt8]], _ initializers: [[UInt8]] = [], inputs: [[UInt8]] = [input], outputs: [[UInt8]] = [output]) -> [UInt8] {
        let graph = nodes.flatMap { Wire.bytes(1, $0) } + Wire.text(2, "fail_case") + initializers.flatMap { Wire.bytes(5, $0) }
            + inputs.flatMap { Wire.bytes(11, $0) } + outputs.flatMap { Wire.bytes(12, $0) }
        let opsetImport = opset.map { Wire.bytes(8, Wire.text(1, "") + Wire.int(2, $0)) } ?? []
        return Wire.int(1, 8) + Wire.text(2, "mpcc-fail-cases") + Wire.bytes(7, graph) + opsetImport
    }

    static func rejection(_ bytes: [UInt8], directory: String) -> String? {
        let path = "\(directory)/candidate.onnx"
        writeFile(path, bytes)
        do {
            _ = try importONNX(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func all() throws -> [FailCase] {
        try damaged() + malformed() + hostile()
    }

    /// Cut and bit-flipped fixtures, and files that are no protobuf at all. Only the
    /// candidates the importer refuses are kept (a cut in trailing metadata may import).
    static func damaged() throws -> [FailCase] {
        var cases: [FailCase] = [
            ("onnx-empty.onnx", []), ("onnx-text.onnx", Array("this is not a model\n".utf8)),
            ("onnx-all-ff.onnx", Array(repeating: 0xFF, count: 64)), ("onnx-zeros.onnx", Array(repeating: 0, count: 16)),
        ]
        let directory = temporaryDirectory()
        for fixture in ["shufflenet_block", "ops/conv_basic"] {
            let bytes = try readOrThrow(modelsPath("\(fixture)/model.onnx"))
            let label = fixture.split(separator: "/").last!.replacingUnderscores
            for cut in [1, 7, bytes.count / 4, bytes.count / 2, bytes.count * 3 / 4, bytes.count - 2] where rejection(Array(bytes.prefix(cut)), directory: directory) != nil {
                cases.append(("onnx-\(label)-cut-at-\(cut).onnx", Array(bytes.prefix(cut))))
            }
            var random = SeededGenerator(state: UInt64(bytes.count))
            let flipped = (0..<400).map { _ in
                BytecodeCases.edited(bytes) { copy in
                    for _ in 0..<Int.random(in: 1...3, using: &random) { copy[Int.random(in: copy.indices, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random) }
                }
            }
            for (index, candidate) in distinctRejections(flipped, limit: 6, { rejection($0, directory: directory) }).enumerated() {
                cases.append(("onnx-\(label)-bits-flipped-\(index).onnx", candidate))
            }
        }
        return cases
    }
}

extension Substring {
    var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}
