import TestSupport

/// Hand-built ONNX models with broken structure or hostile values (the cases of
/// Tests/ONNXFrontendTests/RobustnessTests.swift).
extension ONNXCases {
    static func malformed() -> [FailCase] {
        let batched = value("x", [nil, 2, 3, 3])
        let relu = node("Relu", ["x"], ["y"])
        var external = Wire.int(1, 2) + Wire.int(2, 1) + Wire.text(8, "w")
        external += Wire.bytes(13, Wire.text(1, "location") + Wire.text(2, "../../etc/passwd")) + Wire.int(14, 1)
        return [
            ("onnx-undefined-input.onnx", model([node("Relu", ["nope"], ["y"])], inputs: [batched])),
            ("onnx-defined-twice.onnx", model([relu, relu], inputs: [batched])),
            ("onnx-no-opset.onnx", model(opset: nil, [relu], inputs: [batched])),
            ("onnx-opset-99.onnx", model(opset: 99, [relu], inputs: [batched])),
            ("onnx-symbolic-spatial-dimension.onnx", model([relu], inputs: [value("x", [1, 2, nil, 3])])),
            ("onnx-declared-output-shape-wrong.onnx", model([relu], inputs: [batched], outputs: [value("y", [nil, 2, 4, 3])])),
            ("onnx-conv-weight-channels-wrong.onnx", model([node("Conv", ["x", "w"], ["y"])], [tensor("w", [4, 5, 1, 1], floats: Array(repeating: 0.5, count: 20))], inputs: [batched])),
            ("onnx-custom-domain.onnx", model([node("FusedConv", ["x"], ["y"], domain: "com.microsoft")])),
            ("onnx-unsupported-op.onnx", model([node("Sigmoid", ["x"], ["y"])])),
            ("onnx-external-data-outside-the-directory.onnx", model([node("Add", ["x", "w"], ["y"])], [external], inputs: [value("x", [2])])),
        ]
    }

    /// Attribute and initializer values chosen to overflow arithmetic or float-to-int
    /// conversions. Only those the importer refuses are kept (some import validly).
    static func hostile() -> [FailCase] {
        var candidates: [FailCase] = []
        for (label, scale) in [("1e30", Float(1e30)), ("inf", .infinity), ("nan", .nan), ("minus-2", -2), ("0", 0)] {
            let scales = tensor("scales", [4], floats: [1, 1, scale, 2])
            candidates.append(("onnx-resize-scale-\(label).onnx", model([node("Resize", ["x", "", "scales"], ["y"])], [scales])))
        }
        let reshapeByQ = node("Reshape", ["x", "q"], ["y"]), addQ = node("Add", ["x", "q"], ["y"])
        candidates += [
            ("onnx-folded-division-overflows.onnx",
             model([node("Div", ["a", "b"], ["q"]), reshapeByQ], [tensor("a", [1], ints: [Int64.min]), tensor("b", [1], ints: [-1])])),
            ("onnx-folded-range-too-long.onnx",
             model([node("Range", ["s", "l", "d"], ["q"]), reshapeByQ], [tensor("s", [], ints: [Int64.min]), tensor("l", [], ints: [Int64.max]), tensor("d", [], ints: [1])])),
            ("onnx-folded-float-range-too-long.onnx",
             model([node("Range", ["s", "l", "d"], ["q"]), addQ], [tensor("s", [], floats: [0]), tensor("l", [], floats: [1e30]), tensor("d", [], floats: [1e-30])])),
            ("onnx-split-sizes-overflow.onnx",
             model([node("Split", ["x", "split"], ["y", "z"], [("axis", .int(1))])], [tensor("split", [2], ints: [Int64.max, Int64.max])])),
            ("onnx-pads-at-the-limits.onnx", model([node("Pad", ["x", "pads"], ["y"])], [tensor("pads", [8], ints: [0, 0, Int64.max, 0, 0, 0, Int64.min, 0])])),
            ("onnx-max-pool-kernel-overflows.onnx", model([node("MaxPool", ["x"], ["y"], [("kernel_shape", .ints([Int64.max, 2])), ("strides", .ints([1, 1]))])])),
            ("onnx-conv-pads-overflow.onnx",
             model([node("Conv", ["x", "w"], ["y"], [("pads", .ints([Int64.max, 0, 0, 0]))])], [tensor("w", [1, 2, 1, 1], floats: [1, 1])])),
            ("onnx-constant-of-shape-too-large.onnx",
             model([node("ConstantOfShape", ["shape"], ["q"]), addQ], [tensor("shape", [2], ints: [Int64.max, Int64.max])])),
            ("onnx-expand-too-large.onnx",
             model([node("Expand", ["one", "e"], ["q"]), addQ], [tensor("e", [3], ints: [1 << 20, 1 << 20, 1 << 20]), tensor("one", [1], floats: [1])])),
        ]
        let directory = temporaryDirectory()
        return candidates.filter { rejection($0.bytes, directory: directory) != nil }
    }
}
