// A tiny ONNX (protobuf) writer so tests can build models without Python: enough of
// ModelProto to make edge cases the exporters never produce.

/// Protobuf wire encoding of one message.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, 0)
        raw(value)
    }

    mutating func bytes(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        raw(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ text: String) { bytes(field, Array(text.utf8)) }
    mutating func message(_ field: Int, _ message: ProtoWriter) { bytes(field, message.bytes) }
    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { raw(UInt64(field) << 3 | wireType) }

    private mutating func raw(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}

enum ONNXWriter {
    /// An ONNX dimension: a size, or a symbolic name.
    enum Dim {
        case size(Int)
        case symbol(String)
    }

    enum Attribute {
        case int(Int)
        case ints([Int])
        case float(Float)
        case string(String)
    }

    static func tensor(_ name: String, dims: [Int], floats: [Float]) -> ProtoWriter {
        var tensor = ProtoWriter()
        for dim in dims { tensor.varint(1, UInt64(dim)) }
        tensor.varint(2, 1)
        tensor.string(8, name)
        var raw: [UInt8] = []
        for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw += $0 } }
        tensor.bytes(9, raw)
        return tensor
    }

    static func tensor(_ name: String, dims: [Int], ints: [Int64]) -> ProtoWriter {
        var tensor = ProtoWriter()
        for dim in dims { tensor.varint(1, UInt64(dim)) }
        tensor.varint(2, 7)
        tensor.string(8, name)
        var packed = ProtoWriter()
        for value in ints { packed.varintRaw(UInt64(bitPattern: value)) }
        tensor.bytes(7, packed.bytes)
        return tensor
    }

    static func node(_ opType: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [String: Attribute] = [:]) -> ProtoWriter {
        var node = ProtoWriter()
        for input in inputs { node.string(1, input) }
        for output in outputs { node.string(2, output) }
        node.string(3, name)
        node.string(4, opType)
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            var attribute = ProtoWriter()
            attribute.string(1, key)
            switch value {
            case .int(let int):
                attribute.varint(20, 2)
                attribute.varint(3, UInt64(bitPattern: Int64(int)))
            case .ints(let ints):
                attribute.varint(20, 7)
                for int in ints { attribute.varint(8, UInt64(bitPattern: Int64(int))) }
            case .float(let float):
                attribute.varint(20, 1)
                attribute.float(2, float)
            case .string(let text):
                attribute.varint(20, 3)
                attribute.string(4, text)
            }
            node.message(5, attribute)
        }
        return node
    }

    static func valueInfo(_ name: String, elementType: Int = 1, dims: [Dim]?) -> ProtoWriter {
        var info = ProtoWriter()
        info.string(1, name)
        var tensorType = ProtoWriter()
        tensorType.varint(1, UInt64(elementType))
        if let dims {
            var shape = ProtoWriter()
            for dim in dims {
                var entry = ProtoWriter()
                switch dim {
                case .size(let size): entry.varint(1, UInt64(size))
                case .symbol(let name): entry.string(2, name)
                }
                shape.message(1, entry)
            }
            tensorType.message(2, shape)
        }
        var type = ProtoWriter()
        type.message(1, tensorType)
        info.message(2, type)
        return info
    }

    static func model(
        opset: Int? = 13, nodes: [ProtoWriter], initializers: [ProtoWriter] = [], inputs: [ProtoWriter], outputs: [ProtoWriter]
    ) -> [UInt8] {
        var graph = ProtoWriter()
        for node in nodes { graph.message(1, node) }
        graph.string(2, "test_graph")
        for initializer in initializers { graph.message(5, initializer) }
        for input in inputs { graph.message(11, input) }
        for output in outputs { graph.message(12, output) }
        var model = ProtoWriter()
        model.varint(1, 8)
        model.string(2, "mpcc-tests")
        model.message(7, graph)
        if let opset {
            var opsetID = ProtoWriter()
            opsetID.string(1, "")
            opsetID.varint(2, UInt64(opset))
            model.message(8, opsetID)
        }
        return model.bytes
    }
}

extension ProtoWriter {
    /// A bare varint (for packed repeated fields).
    mutating func varintRaw(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}
