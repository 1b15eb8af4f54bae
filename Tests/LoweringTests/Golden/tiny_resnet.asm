; mpcb format 5, ring Z_2^64 (z32: Z_2^32), 20 fractional bits, exact DReLU, program hash 26ec50c37bc93d6e...
; #0 = weight [8,3,3,3] frac 21  // conv1.weight#1
; #1 = weight [8] frac 41  // /conv1/Conv_output_0/bias
; #2 = weight [8,8,3,3] frac 22  // layer1.conv1.weight#1
; #3 = weight [8] frac 42  // /layer1/conv1/Conv_output_0/bias
; #4 = weight [8,8,3,3] frac 22  // layer1.conv2.weight#1
; #5 = weight [8] frac 42  // /layer1/conv2/Conv_output_0/bias
; #6 = weight [16,8,1,1] frac 20  // layer2.downsample.0.weight#1
; #7 = weight [16] frac 40  // /layer2/downsample/downsample.0/Conv_output_0/bias
; #8 = weight [16,8,3,3] frac 22  // layer2.conv1.weight#1
; #9 = weight [16] frac 42  // /layer2/conv1/Conv_output_0/bias
; #10 = weight [16,16,3,3] frac 22  // layer2.conv2.weight#1
; #11 = weight [16] frac 42  // /layer2/conv2/Conv_output_0/bias
; #12 = weight [10,16] frac 21  // fc.weight
; #13 = weight [10] frac 41  // fc.bias
%0 = input : [1,3,32,32]  // input
%1 = conv %0, #0, #1, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,8,32,32]  // /conv1/Conv, 90112 B, 1 rounds
%2 = trunc %1, bits=21, exact=0 : [1,8,32,32]  // /conv1/Conv, 197632 B, 1 rounds
%3 = relu %2, bits=64, dropped=0, radix=2 : [1,8,32,32]  // /relu/Relu, 8192 DReLUs, 950272 B, 8 rounds
%4 = max_pool %3, kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil=0, bits=64, dropped=0, radix=2 : [1,8,16,16]  // /maxpool/MaxPool, 16384 DReLUs, 1900544 B, 32 rounds
%5 = conv %4, #2, #3, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,8,16,16]  // /layer1/conv1/Conv, 32768 B, 1 rounds
%6 = trunc %5, bits=22, exact=0 : [1,8,16,16]  // /layer1/conv1/Conv, 49408 B, 1 rounds
%7 = relu %6, bits=64, dropped=0, radix=2 : [1,8,16,16]  // /layer1/relu/Relu, 2048 DReLUs, 237568 B, 8 rounds
%8 = conv %7, #4, #5, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,8,16,16]  // /layer1/conv2/Conv, 32768 B, 1 rounds
%9 = trunc %8, bits=22, exact=0 : [1,8,16,16]  // /layer1/conv2/Conv, 49408 B, 1 rounds
%10 = add %9, %4 : [1,8,16,16]  // /layer1/Add
%11 = relu %10, bits=64, dropped=0, radix=2 : [1,8,16,16]  // /layer1/relu_1/Relu, 2048 DReLUs, 237568 B, 8 rounds
%12 = conv %11, #6, #7, strides=[2,2], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,16,8,8]  // /layer2/downsample/downsample.0/Conv, 24576 B, 1 rounds
%13 = conv %11, #8, #9, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,16,8,8]  // /layer2/conv1/Conv, 24576 B, 1 rounds
%14 = trunc %12, bits=20, exact=0 : [1,16,8,8]  // /layer2/downsample/downsample.0/Conv, 24704 B, 1 rounds
%15 = trunc %13, bits=22, exact=0 : [1,16,8,8]  // /layer2/conv1/Conv, 24704 B, 1 rounds
%16 = relu %15, bits=64, dropped=0, radix=2 : [1,16,8,8]  // /layer2/relu/Relu, 1024 DReLUs, 118784 B, 8 rounds
%17 = conv %16, #10, #11, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,16,8,8]  // /layer2/conv2/Conv, 16384 B, 1 rounds
%18 = trunc %17, bits=22, exact=0 : [1,16,8,8]  // /layer2/conv2/Conv, 24704 B, 1 rounds
%19 = add %18, %14 : [1,16,8,8]  // /layer2/Add
%20 = relu %19, bits=64, dropped=0, radix=2 : [1,16,8,8]  // /layer2/relu_1/Relu, 1024 DReLUs, 118784 B, 8 rounds
%21 = global_avg_pool %20, shift=24 : [1,16,1,1]  // /avgpool/GlobalAveragePool
%22 = trunc %21, bits=24, exact=0 : [1,16,1,1]  // /avgpool/GlobalAveragePool, 512 B, 1 rounds
%23 = reshape %22 : [1,16]  // /Reshape
%24 = dense %23, #12, #13 : [1,10]  // /fc/Gemm, 208 B, 1 rounds
%25 = trunc %24, bits=21, exact=0 : [1,10]  // /fc/Gemm, 248 B, 1 rounds
%26 = reveal client %25 : [1,10]  // output, 80 B, 1 rounds
; outputs: %26
; the client receives %26 = %25 '/fc/Gemm' [1,10]: 10 values, 80 B, an output
; total: 30720 DReLUs, 88 rounds, 2473816 B online + 1682496 B offline per inference, 40896 B per session
