/// The windows of a 2-D pooling over the last two axes of [N, C, H, W] (and of every
/// kernel that must agree with it: the float engine forward and backward, the ring
/// kernels): for each output position, the kernel rows and columns that fall inside the
/// input and the window's extent clipped to the padded input.
public struct PoolWindows: Sendable {
    public let height: Int, width: Int
    public let outputHeight: Int, outputWidth: Int
    @usableFromInline let strides: (Int, Int), pads: (top: Int, left: Int), dilations: (Int, Int)
    @usableFromInline let rows: [(valid: Range<Int>, padded: Int)], columns: [(valid: Range<Int>, padded: Int)]

    /// `kernel`, `strides`, `dilations` as [h, w]; `pads` as [top, left, bottom, right].
    public init(input: [Int], output: [Int], kernel: [Int], strides: [Int], pads: [Int], dilations: [Int]) {
        (height, width) = (input[input.count - 2], input[input.count - 1])
        (outputHeight, outputWidth) = (output[output.count - 2], output[output.count - 1])
        self.strides = (strides[0], strides[1])
        self.pads = (pads[0], pads[1])
        self.dilations = (dilations[0], dilations[1])
        rows = poolWindowRanges(count: outputHeight, stride: strides[0], padBegin: pads[0], padEnd: pads[2], kernel: kernel[0], dilation: dilations[0], size: height)
        columns = poolWindowRanges(count: outputWidth, stride: strides[1], padBegin: pads[1], padEnd: pads[3], kernel: kernel[1], dilation: dilations[1], size: width)
    }

    /// One window: its output index within the plane, and the input index within the
    /// plane of kernel position (ky, kx) as `origin + ky * rowStep + kx * columnStep`.
    public struct Window {
        public let output: Int
        public let origin: Int, rowStep: Int, columnStep: Int
        /// Kernel rows and columns inside the input.
        public let rows: Range<Int>, columns: Range<Int>
        /// Kernel positions inside the padded input (count_include_pad divisors).
        public let padded: Int
        public var valid: Int { rows.count * columns.count }

        @usableFromInline
        init(output: Int, origin: Int, rowStep: Int, columnStep: Int, rows: Range<Int>, columns: Range<Int>, padded: Int) {
            (self.output, self.origin, self.rowStep, self.columnStep) = (output, origin, rowStep, columnStep)
            (self.rows, self.columns, self.padded) = (rows, columns, padded)
        }
        @inlinable public func index(_ ky: Int, _ kx: Int) -> Int { origin + ky * rowStep + kx * columnStep }
    }

    /// Calls `body` for every window of one plane, in output order.
    @inlinable
    public func forEachWindow(_ body: (Window) throws -> Void) rethrows {
        for oy in 0..<outputHeight {
            let y0 = oy * strides.0 - pads.top
            for ox in 0..<outputWidth {
                let x0 = ox * strides.1 - pads.left
                try body(Window(
                    output: oy * outputWidth + ox, origin: y0 * width + x0, rowStep: dilations.0 * width, columnStep: dilations.1,
                    rows: rows[oy].valid, columns: columns[ox].valid, padded: rows[oy].padded * columns[ox].padded))
            }
        }
    }
}
