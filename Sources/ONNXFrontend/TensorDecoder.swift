import CProtobufC
import IR
import ONNXProto

#if canImport(Glibc)
import Glibc
#endif

/// Decodes TensorProto (initializers and tensor attributes) into IR tensors: raw_data,
/// the typed repeated fields, and external data files. Floating types become f32,
/// integer and boolean types i64.
final class TensorDecoder {
    /// The directory external data `location`s are relative to.
    let baseDirectory: String
    private var dataFiles: [String: MappedFile] = [:]

    init(modelPath: String) {
        if let slash = modelPath.lastIndex(of: "/") {
            baseDirectory = String(modelPath[..<slash])
        } else {
            baseDirectory = "."
        }
    }

    /// ONNX TensorProto.DataType codes mpcc reads, with their byte sizes in raw_data.
    private static let elementSizes: [Int32: Int] = [
        1: 4,  // FLOAT
        2: 1, 3: 1,  // UINT8, INT8
        4: 2, 5: 2,  // UINT16, INT16
        6: 4, 7: 8,  // INT32, INT64
        9: 1,  // BOOL
        10: 2,  // FLOAT16
        11: 8,  // DOUBLE
        12: 4, 13: 8,  // UINT32, UINT64
        16: 2,  // BFLOAT16
    ]
    private static let typeNames: [Int32: String] = [
        0: "UNDEFINED", 8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ",
        19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4",
    ]

    func decode(_ proto: Onnx__TensorProto) throws -> Tensor {
        let name = string(proto.name)
        let label = name.isEmpty ? "a tensor" : "tensor '\(name)'"
        var shape: [Int] = []
        for index in 0..<proto.n_dims {
            let dim = proto.dims[index]
            guard dim >= 0, dim < 1 << 32 else { throw ImportError("\(label) has an invalid dimension \(dim)") }
            shape.append(Int(dim))
        }
        guard let count = shape.checkedProduct, count <= maxElementCount else {
            throw ImportError("\(label) with shape \(shape) is too large")
        }
        let dataType = proto.has_data_type != 0 ? proto.data_type : 0
        guard let elementSize = TensorDecoder.elementSizes[dataType] else {
            throw ImportError("\(label) has element type \(TensorDecoder.typeNames[dataType] ?? "\(dataType)"), which mpcc does not support")
        }

        if proto.has_data_location != 0 && proto.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
            || proto.n_external_data > 0
        {
            let (file, range) = try externalRange(proto, label: label, byteCount: count * elementSize)
            let tensor = try fromBytes(UnsafeRawBufferPointer(rebasing: file.bytes[range]), dataType: dataType, shape: shape, count: count)
            file.release(range)
            return tensor
        }
        if proto.has_raw_data != 0 {
            let raw = proto.raw_data
            guard raw.len == count * elementSize else {
                throw ImportError("\(label) holds \(raw.len) bytes of raw data, its shape \(shape) needs \(count * elementSize)")
            }
            return try fromBytes(UnsafeRawBufferPointer(start: raw.data, count: raw.len), dataType: dataType, shape: shape, count: count)
        }
        return try fromTypedFields(proto, dataType: dataType, shape: shape, count: count, label: label)
    }

    private func fromTypedFields(_ proto: Onnx__TensorProto, dataType: Int32, shape: [Int], count: Int, label: String) throws -> Tensor {
        func check(_ n: Int, _ field: String) throws {
            guard n == count else { throw ImportError("\(label) has \(n) values in \(field), its shape \(shape) needs \(count)") }
        }
        switch dataType {
        case 1:
            try check(proto.n_float_data, "float_data")
            return Tensor(shape: shape, floats: Array(UnsafeBufferPointer(start: proto.float_data, count: count)))
        case 11:
            try check(proto.n_double_data, "double_data")
            return Tensor(shape: shape, floats: UnsafeBufferPointer(start: proto.double_data, count: count).map { Float($0) })
        case 7:
            try check(proto.n_int64_data, "int64_data")
            return Tensor(shape: shape, ints: Array(UnsafeBufferPointer(start: proto.int64_data, count: count)))
        case 12, 13:
            try check(proto.n_uint64_data, "uint64_data")
            return Tensor(shape: shape, ints: UnsafeBufferPointer(start: proto.uint64_data, count: count).map { Int64(truncatingIfNeeded: $0) })
        case 10, 16:
            // float16 and bfloat16 keep their bit patterns in int32_data.
            try check(proto.n_int32_data, "int32_data")
            let bits = UnsafeBufferPointer(start: proto.int32_data, count: count).map { UInt16(truncatingIfNeeded: $0) }
            return Tensor(shape: shape, floats: bits.map { dataType == 10 ? float16(bits: $0) : bfloat16(bits: $0) })
        default:
            try check(proto.n_int32_data, "int32_data")
            return Tensor(shape: shape, ints: UnsafeBufferPointer(start: proto.int32_data, count: count).map { Int64($0) })
        }
    }

    /// Converts little-endian raw bytes of an ONNX element type.
    private func fromBytes(_ bytes: UnsafeRawBufferPointer, dataType: Int32, shape: [Int], count: Int) throws -> Tensor {
        func load<T>(_: T.Type, _ index: Int) -> T { bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self) }
        switch dataType {
        case 1:
            let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { memcpy(buffer.baseAddress!, bytes.baseAddress!, count * 4) }
                initialized = count
            }
            return Tensor(shape: shape, floats: floats)
        case 11: return Tensor(shape: shape, floats: (0..<count).map { Float(load(Double.self, $0)) })
        case 10: return Tensor(shape: shape, floats: (0..<count).map { float16(bits: load(UInt16.self, $0)) })
        case 16: return Tensor(shape: shape, floats: (0..<count).map { bfloat16(bits: load(UInt16.self, $0)) })
        case 7:
            let ints = [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { memcpy(buffer.baseAddress!, bytes.baseAddress!, count * 8) }
                initialized = count
            }
            return Tensor(shape: shape, ints: ints)
        case 2, 9: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt8.self, $0)) })
        case 3: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int8.self, $0)) })
        case 4: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt16.self, $0)) })
        case 5: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int16.self, $0)) })
        case 6: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int32.self, $0)) })
        case 12: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt32.self, $0)) })
        case 13: return Tensor(shape: shape, ints: (0..<count).map { Int64(truncatingIfNeeded: load(UInt64.self, $0)) })
        default: throw ImportError("element type \(dataType) is not supported")
        }
    }

    /// The file and byte range of an externally stored tensor, checked against the file.
    private func externalRange(_ proto: Onnx__TensorProto, label: String, byteCount: Int) throws -> (MappedFile, Range<Int>) {
        var location = ""
        var offset = 0
        var length: Int?
        for index in 0..<proto.n_external_data {
            guard let entry = proto.external_data[index]?.pointee else { continue }
            let value = string(entry.value)
            switch string(entry.key) {
            case "location": location = value
            case "offset":
                guard let parsed = Int(value), parsed >= 0 else { throw ImportError("\(label) has an invalid external data offset '\(value)'") }
                offset = parsed
            case "length":
                guard let parsed = Int(value), parsed >= 0 else { throw ImportError("\(label) has an invalid external data length '\(value)'") }
                length = parsed
            default: break
            }
        }
        guard !location.isEmpty else { throw ImportError("\(label) is stored externally but names no location") }
        // Like ONNX's checker: the data must sit beside the model, never elsewhere.
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !parts.contains(".."), !location.contains("\\") else {
            throw ImportError("\(label) names external data '\(location)' outside the model's directory")
        }
        let path = baseDirectory + "/" + location
        let file: MappedFile
        if let cached = dataFiles[path] {
            file = cached
        } else {
            do {
                file = try MappedFile(path: path)
            } catch let error as ImportError {
                throw ImportError("\(label) is stored in external data that cannot be read: \(error.message)")
            }
            dataFiles[path] = file
        }
        let size = length ?? byteCount
        guard size == byteCount else {
            throw ImportError("\(label) has \(size) bytes of external data, its shape needs \(byteCount)")
        }
        guard offset <= file.bytes.count, size <= file.bytes.count - offset else {
            throw ImportError("\(label) lies at bytes \(offset)..<\(offset + size) of \(location), which has only \(file.bytes.count) bytes")
        }
        return (file, offset..<(offset + size))
    }
}

private func float16(bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

private func bfloat16(bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
