; mpcb format 4, ring Z_2^64 (z32: Z_2^32), 20 fractional bits, exact DReLU, program hash 43e43e3e39b0ce8e...
; #0 = weight [8,3,3,3] frac 21  // features.0.0.weight#1
; #1 = weight [8] frac 41  // /features/features.0/features.0.0/Conv_output_0/bias
; #2 = weight [32,8,1,1] frac 20  // features.1.conv.0.0.weight#1
; #3 = weight [32] frac 40  // /features/features.1/conv/conv.0/conv.0.0/Conv_output_0/bias
; #4 = weight [32,1,3,3] frac 21  // features.1.conv.1.0.weight#1
; #5 = weight [32] frac 41  // /features/features.1/conv/conv.1/conv.1.0/Conv_output_0/bias
; #6 = weight [8,32,1,1] frac 22  // features.1.conv.2.0.weight#1
; #7 = weight [8] frac 42  // /features/features.1/conv/conv.2/conv.2.0/Conv_output_0/bias
; #8 = weight [32,8,1,1] frac 21  // features.2.conv.0.0.weight#1
; #9 = weight [32] frac 41  // /features/features.2/conv/conv.0/conv.0.0/Conv_output_0/bias
; #10 = weight [32,1,3,3] frac 21  // features.2.conv.1.0.weight#1
; #11 = weight [32] frac 41  // /features/features.2/conv/conv.1/conv.1.0/Conv_output_0/bias
; #12 = weight [16,32,1,1] frac 22  // features.2.conv.2.0.weight#1
; #13 = weight [16] frac 42  // /features/features.2/conv/conv.2/conv.2.0/Conv_output_0/bias
; #14 = weight [48,16,1,1] frac 21  // features.3.conv.0.0.weight#1
; #15 = weight [48] frac 41  // /features/features.3/conv/conv.0/conv.0.0/Conv_output_0/bias
; #16 = weight [48,1,3,3] frac 21  // features.3.conv.1.0.weight#1
; #17 = weight [48] frac 41  // /features/features.3/conv/conv.1/conv.1.0/Conv_output_0/bias
; #18 = weight [16,48,1,1] frac 22  // features.3.conv.2.0.weight#1
; #19 = weight [16] frac 42  // /features/features.3/conv/conv.2/conv.2.0/Conv_output_0/bias
; #20 = weight [10,16] frac 21  // classifier.weight
; #21 = weight [10] frac 41  // classifier.bias
%0 = input : [1,3,32,32]  // input
%1 = conv %0, #0, #1, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,8,16,16]  // /features/features.0/features.0.0/Conv, 40960 B, 1 rounds
%2 = trunc %1, bits=21, exact=0 : [1,8,16,16]  // /features/features.0/features.0.0/Conv, 65536 B, 1 rounds
%3 = relu %2, bits=64, dropped=0 : [1,8,16,16]  // /features/features.0/features.0.2/Clip, 2048 DReLUs, 237568 B, 8 rounds
%4 = add_public %2, value=-6291456 : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%5 = relu %4, bits=64, dropped=0 : [1,8,16,16]  // /features/features.0/features.0.2/Clip, 2048 DReLUs, 237568 B, 8 rounds
%6 = sub %3, %5 : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%7 = conv %6, #2, #3, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.0/Conv, 81920 B, 1 rounds
%8 = trunc %7, bits=20, exact=0 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.0/Conv, 262144 B, 1 rounds
%9 = relu %8, bits=64, dropped=0 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%10 = add_public %8, value=-6291456 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%11 = relu %10, bits=64, dropped=0 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%12 = sub %9, %11 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%13 = conv %12, #4, #5, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=32 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.0/Conv, 131072 B, 1 rounds
%14 = trunc %13, bits=21, exact=0 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.0/Conv, 262144 B, 1 rounds
%15 = relu %14, bits=64, dropped=0 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%16 = add_public %14, value=-6291456 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%17 = relu %16, bits=64, dropped=0 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%18 = sub %15, %17 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%19 = conv %18, #6, #7, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,8,16,16]  // /features/features.1/conv/conv.2/conv.2.0/Conv, 81920 B, 1 rounds
%20 = trunc %19, bits=22, exact=0 : [1,8,16,16]  // /features/features.1/conv/conv.2/conv.2.0/Conv, 65536 B, 1 rounds
%21 = add %6, %20 : [1,8,16,16]  // /features/features.1/Add
%22 = conv %21, #8, #9, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.0/Conv, 81920 B, 1 rounds
%23 = trunc %22, bits=21, exact=0 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.0/Conv, 262144 B, 1 rounds
%24 = relu %23, bits=64, dropped=0 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%25 = add_public %23, value=-6291456 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%26 = relu %25, bits=64, dropped=0 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip, 8192 DReLUs, 950272 B, 8 rounds
%27 = sub %24, %26 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%28 = conv %27, #10, #11, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=32 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.0/Conv, 81920 B, 1 rounds
%29 = trunc %28, bits=21, exact=0 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.0/Conv, 65536 B, 1 rounds
%30 = relu %29, bits=64, dropped=0 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip, 2048 DReLUs, 237568 B, 8 rounds
%31 = add_public %29, value=-6291456 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%32 = relu %31, bits=64, dropped=0 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip, 2048 DReLUs, 237568 B, 8 rounds
%33 = sub %30, %32 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%34 = conv %33, #12, #13, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,16,8,8]  // /features/features.2/conv/conv.2/conv.2.0/Conv, 24576 B, 1 rounds
%35 = trunc %34, bits=22, exact=0 : [1,16,8,8]  // /features/features.2/conv/conv.2/conv.2.0/Conv, 32768 B, 1 rounds
%36 = conv %35, #14, #15, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.0/Conv, 32768 B, 1 rounds
%37 = trunc %36, bits=21, exact=0 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.0/Conv, 98304 B, 1 rounds
%38 = relu %37, bits=64, dropped=0 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip, 3072 DReLUs, 356352 B, 8 rounds
%39 = add_public %37, value=-6291456 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%40 = relu %39, bits=64, dropped=0 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip, 3072 DReLUs, 356352 B, 8 rounds
%41 = sub %38, %40 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%42 = conv %41, #16, #17, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=48 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.0/Conv, 49152 B, 1 rounds
%43 = trunc %42, bits=21, exact=0 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.0/Conv, 98304 B, 1 rounds
%44 = relu %43, bits=64, dropped=0 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip, 3072 DReLUs, 356352 B, 8 rounds
%45 = add_public %43, value=-6291456 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%46 = relu %45, bits=64, dropped=0 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip, 3072 DReLUs, 356352 B, 8 rounds
%47 = sub %44, %46 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%48 = conv %47, #18, #19, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,16,8,8]  // /features/features.3/conv/conv.2/conv.2.0/Conv, 32768 B, 1 rounds
%49 = trunc %48, bits=22, exact=0 : [1,16,8,8]  // /features/features.3/conv/conv.2/conv.2.0/Conv, 32768 B, 1 rounds
%50 = add %35, %49 : [1,16,8,8]  // /features/features.3/Add
%51 = global_avg_pool %50, shift=24 : [1,16,1,1]  // /ReduceMean
%52 = trunc %51, bits=24, exact=0 : [1,16,1,1]  // /ReduceMean, 512 B, 1 rounds
%53 = reshape %52 : [1,16]  // /ReduceMean
%54 = dense %53, #20, #21 : [1,10]  // /classifier/Gemm, 208 B, 1 rounds
%55 = trunc %54, bits=21, exact=0 : [1,10]  // /classifier/Gemm, 320 B, 1 rounds
%56 = reveal client %55 : [1,10]  // output, 80 B, 1 rounds
; outputs: %56
; the client receives %56 = %55 '/classifier/Gemm' [1,10]: 10 values, 80 B, an output
; total: 69632 DReLUs, 136 rounds, 6329968 B online + 3632624 B offline per inference, 33600 B per session
