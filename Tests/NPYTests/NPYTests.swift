import TestSupport
import Testing

@testable import NPY

@Suite struct NPYTests {
    @Test func roundTripsFloatAndIntArrays() throws {
        let floats = NPYArray(shape: [2, 3], float32: [0, 1.5, -2, .infinity, 1e-30, 7])
        #expect(try NPYArray.decode(floats.encode()) == floats)
        let ints = NPYArray(shape: [4], int64: [0, -1, .max, .min])
        #expect(try NPYArray.decode(ints.encode()) == ints)
        let scalar = NPYArray(shape: [], float32: [3])
        #expect(try NPYArray.decode(scalar.encode()) == scalar)
        let empty = NPYArray(shape: [0, 5], float32: [])
        #expect(try NPYArray.decode(empty.encode()) == empty)
    }

    @Test func headerIsAlignedAndNumPyShaped() {
        let bytes = NPYArray(shape: [3], float32: [1, 2, 3]).encode()
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"))
        #expect(header.hasSuffix("\n"))
    }

    /// A header written by hand, as NumPy 2.0-format files and Fortran arrays look.
    func file(_ header: String, version: UInt8 = 1, data: [UInt8]) -> [UInt8] {
        let text = Array(header.utf8)
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        if version == 1 {
            bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
        } else {
            bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8), 0, 0]
        }
        return bytes + text + data
    }

    func floatBytes(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    @Test func readsVersion2AndFortranOrder() throws {
        let v2 = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", version: 2, data: floatBytes([1, 2]))
        #expect(try NPYArray.decode(v2) == NPYArray(shape: [2], float32: [1, 2]))
        // Fortran order: column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
        let fortran = file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", data: floatBytes([1, 4, 2, 5, 3, 6]))
        #expect(try NPYArray.decode(fortran) == NPYArray(shape: [2, 3], float32: [1, 2, 3, 4, 5, 6]))
    }

    @Test(arguments: [
        ("magic", [UInt8](repeating: 0, count: 20)),
        ("truncated", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 200, 0, 123]),
        ("version", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]),
    ])
    func rejectsBrokenPreambles(_ what: String, _ bytes: [UInt8]) {
        #expect(throws: NPYError.self, "\(what)") { try NPYArray.decode(bytes) }
    }

    @Test(arguments: [
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
        "{'descr': '<f4', 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }",
        "not a dict at all",
    ])
    func rejectsBadHeaders(_ header: String) {
        #expect(throws: NPYError.self) { try NPYArray.decode(file(header, data: floatBytes([1, 2]))) }
    }

    @Test func readsTheFixtureArrays() throws {
        let path = repositoryRoot
        let input = try NPYArray.read(path: "\(path)/Models/tiny_resnet/input.npy")
        #expect(input.shape == [2, 3, 32, 32])
        let labels = try NPYArray.read(path: "\(path)/Models/ops/argmax_final/output.npy")
        if case .int64 = labels.data {} else { Issue.record("argmax output should be int64") }
        #expect(throws: NPYError.self) { try NPYArray.read(path: "\(path)/Models/tiny_resnet/model.onnx") }
        #expect(throws: NPYError.self) { try NPYArray.read(path: "/nonexistent.npy") }
    }
}
