// swift-tools-version:6.2
import PackageDescription

// One target per stage of the pipeline (see README.md, Layout); dependencies point one
// way: frontend -> IR <- passes <- planner, and the runtime sees only the bytecode.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "mpcc",
    products: [
        .executable(name: "mpcc", targets: ["mpcc"]),
        .executable(name: "mpcr", targets: ["mpcr"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // libprotobuf-c from Debian (apt: libprotobuf-c-dev), found through pkg-config.
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]),
        // protoc-c output for our own minimal onnx.proto (regenerate with generate.sh).
        .target(
            name: "ONNXProto", dependencies: ["CProtobufC"],
            exclude: ["onnx.proto", "generate.sh"]),

        .target(name: "NPY", swiftSettings: strict),
        .target(name: "IR", dependencies: ["SharedKernels"], swiftSettings: strict),
        .target(
            name: "ONNXFrontend", dependencies: ["IR", "ONNXProto", "CProtobufC"],
            swiftSettings: strict),
        .target(name: "Passes", dependencies: ["IR", "FloatEngine"], swiftSettings: strict),
        // OpenBLAS from Debian (apt: libopenblas-dev): float GEMM for the plaintext engine.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // Packed SGEMM with AVX-512/AVX2 micro-kernels for convolutions (always optimized:
        // the debug build runs the test models through it too).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Kernels the float engine and the runtime must agree on (pooling windows, data
        // movement, softmax); depends on nothing.
        .target(name: "SharedKernels", swiftSettings: strict),
        .target(name: "FloatEngine", dependencies: ["IR", "COpenBLAS", "CKernels", "SharedKernels"], swiftSettings: strict),
        .target(name: "Planner", dependencies: ["IR", "FloatEngine", "SharedKernels"], swiftSettings: strict),
        .target(name: "Bytecode", dependencies: ["SharedKernels", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(name: "Lowering", dependencies: ["IR", "Bytecode"], swiftSettings: strict),
        // Z_2^64 and Z_2^32 matrix products for the runtime and the emulator (always optimized).
        .target(name: "CRingKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "MPCRuntime",
            dependencies: [
                "Bytecode", "CRingKernels", "SharedKernels",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "CommandLineSupport",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        .executableTarget(
            name: "mpcc",
            dependencies: [
                "CommandLineSupport", "ONNXFrontend", "IR", "Passes", "Planner", "FloatEngine",
                "Bytecode", "Lowering", "NPY", "SharedKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "mpcr",
            dependencies: [
                "CommandLineSupport", "MPCRuntime", "Bytecode", "NPY", "CRingKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),

        .target(name: "TestSupport", dependencies: ["IR", "NPY", "SharedKernels"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "NPYTests", dependencies: ["NPY", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "IRTests", dependencies: ["IR"], swiftSettings: strict),
        .testTarget(
            name: "ONNXFrontendTests", dependencies: ["ONNXFrontend", "IR", "NPY", "TestSupport", "FloatEngine", "Lowering", "MPCRuntime", "Passes"],
            swiftSettings: strict),
        .testTarget(
            name: "PassesTests", dependencies: ["Passes", "FloatEngine", "IR", "ONNXFrontend", "NPY", "TestSupport"],
            exclude: ["Cases"], swiftSettings: strict),
        .testTarget(
            name: "PlannerTests", dependencies: ["Planner", "IR", "FloatEngine", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "FloatEngineTests", dependencies: ["FloatEngine", "CKernels", "IR", "ONNXFrontend", "NPY", "Passes", "SharedKernels", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "LoweringTests",
            dependencies: ["Lowering", "Bytecode", "MPCRuntime", "IR", "ONNXFrontend", "Passes", "FloatEngine", "NPY", "TestSupport"],
            exclude: ["Golden"], swiftSettings: strict),
        .testTarget(
            name: "BytecodeTests", dependencies: ["Bytecode", "SharedKernels", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(
            name: "MPCRuntimeTests",
            dependencies: ["MPCRuntime", "CRingKernels", "Lowering", "Bytecode", "IR", "ONNXFrontend", "Passes", "FloatEngine", "NPY", "SharedKernels", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "CommandLineTests", dependencies: ["mpcc", "mpcr", "NPY", "TestSupport"], swiftSettings: strict),
        // Replays Tests/FailCases through the decoders; Crypto re-hashes the generated cases.
        .testTarget(
            name: "FailCaseTests",
            dependencies: ["ONNXFrontend", "Bytecode", "NPY", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
    ]
)
