import CProtobufC
import IR
import ONNXProto

/// An ONNX attribute value, decoded.
enum ONNXAttribute {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(Tensor)
    case floats([Float])
    case ints([Int64])
    case strings([String])
    /// A kind mpcc never needs (graphs, sparse tensors, type protos).
    case other(String)
}

/// An ONNX node, decoded into Swift values.
struct ONNXNode {
    var name: String
    var opType: String
    var domain: String
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: ONNXAttribute]
    /// Position in the graph, for nodes without a name.
    var index: Int

    var displayName: String { name.isEmpty ? "#\(index)" : name }
}

/// A graph input, output or value_info entry.
struct ONNXValueInfo {
    enum Dimension: Equatable {
        case value(Int)
        case parameter(String)
        case unknown
    }
    var name: String
    var elementType: Int32
    /// nil when the entry declares no shape.
    var shape: [Dimension]?
}

/// The parts of an ONNX model mpcc uses, read from a file.
struct ONNXModel {
    var irVersion: Int64 = 0
    var producer = ""
    var opsets: [String: Int] = [:]
    var graphName = ""
    var nodes: [ONNXNode] = []
    var initializers: [(name: String, tensor: Tensor)] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var valueInfo: [ONNXValueInfo] = []
    var sawGraph = false

    /// Reads `path`, walking ModelProto and GraphProto field by field; each node,
    /// initializer and value info is unpacked by protobuf-c separately and freed at once.
    init(path: String) throws {
        let file = try MappedFile(path: path)
        guard file.bytes.count > 0 else { throw ImportError("\(path) is empty") }
        let tensors = TensorDecoder(modelPath: path)
        do {
            var model = ProtoWireReader(file.bytes)
            while let field = try model.next() {
                switch (field.number, field.payload) {
                case (1, .varint(let value)): irVersion = Int64(bitPattern: value)
                case (2, .bytes(let range)): producer = model.string(range)
                case (3, .bytes(let range)): producer += producer.isEmpty ? "" : " " + model.string(range)
                case (7, .bytes(let range)):
                    sawGraph = true
                    try readGraph(file, range, tensors)
                case (8, .bytes(let range)):
                    let (domain, version) = try unpack(file.bytes, range, "OperatorSetIdProto", onnx__operator_set_id_proto__unpack, onnx__operator_set_id_proto__free_unpacked) {
                        (string($0.pointee.domain), $0.pointee.version)
                    }
                    let key = domain == "ai.onnx" ? "" : domain
                    opsets[key] = Int(clamping: version)
                case (1, _), (2, _), (3, _), (7, _), (8, _):
                    throw ImportError("malformed protobuf: ModelProto field \(field.number) has the wrong wire type")
                default:
                    break  // a field mpcc does not use
                }
            }
        } catch let error as ImportError {
            throw ImportError("\(path) is not a valid ONNX model: \(error.message)")
        }
        guard sawGraph else { throw ImportError("\(path) is not a valid ONNX model: it has no graph") }
    }

    private mutating func readGraph(_ file: MappedFile, _ range: Range<Int>, _ tensors: TensorDecoder) throws {
        var graph = ProtoWireReader(file.bytes, range: range)
        while let field = try graph.next() {
            guard case .bytes(let range) = field.payload else {
                if [1, 2, 5, 11, 12, 13, 15].contains(field.number) {
                    throw ImportError("malformed protobuf: GraphProto field \(field.number) has the wrong wire type")
                }
                continue
            }
            switch field.number {
            case 1:
                let index = nodes.count
                nodes.append(try unpack(file.bytes, range, "NodeProto", onnx__node_proto__unpack, onnx__node_proto__free_unpacked) {
                    try decodeNode($0.pointee, index: index, tensors)
                })
            case 2:
                graphName = graph.string(range)
            case 5:
                initializers.append(try unpack(file.bytes, range, "TensorProto", onnx__tensor_proto__unpack, onnx__tensor_proto__free_unpacked) {
                    (string($0.pointee.name), try tensors.decode($0.pointee))
                })
                file.release(range)  // the weights now live in the IR tensor
            case 11, 12, 13:
                let info = try unpack(file.bytes, range, "ValueInfoProto", onnx__value_info_proto__unpack, onnx__value_info_proto__free_unpacked) {
                    decodeValueInfo($0.pointee)
                }
                if field.number == 11 { inputs.append(info) } else if field.number == 12 { outputs.append(info) } else { valueInfo.append(info) }
            case 15:
                throw ImportError("sparse initializers are not supported")
            default:
                break
            }
        }
    }
}

/// Unpacks one message from `range` with protobuf-c, converts it, and frees it.
private func unpack<Message, Result>(
    _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ what: String,
    _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    _ free: (UnsafeMutablePointer<Message>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    _ convert: (UnsafeMutablePointer<Message>) throws -> Result
) throws -> Result {
    let start = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + range.lowerBound }
    guard let message = unpack(nil, range.count, start) else {
        throw ImportError("malformed protobuf: the \(what) at byte \(range.lowerBound) does not decode")
    }
    defer { free(message, nil) }
    return try convert(message)
}

func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

private func strings(_ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
    guard let pointer else { return [] }
    return (0..<count).map { string(pointer[$0]) }
}

func bytesString(_ data: ProtobufCBinaryData) -> String {
    guard let base = data.data, data.len > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: base, count: data.len), as: UTF8.self)
}

private func decodeNode(_ node: Onnx__NodeProto, index: Int, _ tensors: TensorDecoder) throws -> ONNXNode {
    var attributes: [String: ONNXAttribute] = [:]
    if let list = node.attribute {
        for position in 0..<node.n_attribute {
            guard let attribute = list[position]?.pointee else { continue }
            attributes[string(attribute.name)] = try decodeAttribute(attribute, tensors)
        }
    }
    return ONNXNode(
        name: string(node.name), opType: string(node.op_type), domain: string(node.domain),
        inputs: strings(node.n_input, node.input), outputs: strings(node.n_output, node.output),
        attributes: attributes, index: index)
}

private func decodeAttribute(_ attribute: Onnx__AttributeProto, _ tensors: TensorDecoder) throws -> ONNXAttribute {
    var type = attribute.has_type != 0 ? attribute.type : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
    if type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED {
        // Very old files leave `type` out: infer it from the field that is set.
        if attribute.has_f != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT }
        else if attribute.has_i != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT }
        else if attribute.has_s != 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING }
        else if attribute.t != nil { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR }
        else if attribute.n_floats > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS }
        else if attribute.n_ints > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS }
        else if attribute.n_strings > 0 { type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS }
    }
    switch type {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return .float(attribute.f)
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return .int(attribute.i)
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return .string(bytesString(attribute.s))
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        guard let tensor = attribute.t else { return .other("an empty tensor") }
        return .tensor(try tensors.decode(tensor.pointee))
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        return .floats(attribute.floats.map { Array(UnsafeBufferPointer(start: $0, count: attribute.n_floats)) } ?? [])
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        return .ints(attribute.ints.map { Array(UnsafeBufferPointer(start: $0, count: attribute.n_ints)) } ?? [])
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        return .strings(attribute.strings.map { list in (0..<attribute.n_strings).map { bytesString(list[$0]) } } ?? [])
    default:
        return .other("an attribute of type \(type.rawValue)")
    }
}

private func decodeValueInfo(_ info: Onnx__ValueInfoProto) -> ONNXValueInfo {
    var result = ONNXValueInfo(name: string(info.name), elementType: 0, shape: nil)
    guard let type = info.type?.pointee, type.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
        let tensorType = type.tensor_type?.pointee
    else { return result }
    result.elementType = tensorType.has_elem_type != 0 ? tensorType.elem_type : 0
    guard let shape = tensorType.shape?.pointee else { return result }
    result.shape = (0..<shape.n_dim).map { index in
        guard let dim = shape.dim?[index]?.pointee else { return .unknown }
        switch dim.value_case {
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
            return .value(Int(clamping: dim.dim_value))
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
            return .parameter(string(dim.dim_param))
        default:
            return .unknown
        }
    }
    return result
}
