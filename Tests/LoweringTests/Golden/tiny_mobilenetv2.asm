; mpcb format 5, ring Z_2^64 (z32: Z_2^32), 20 fractional bits, exact DReLU, program hash 9804d25fad3ed189...
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
%2 = trunc %1, bits=21, exact=0 : [1,8,16,16]  // /features/features.0/features.0.0/Conv, 49408 B, 1 rounds
%3 = add_public %2, value=-6291456 : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%4 = concat %2, %3, axis=0 : [2,8,16,16]  // /features/features.0/features.0.2/Clip
%5 = relu %4, bits=64, dropped=0, radix=2 : [2,8,16,16]  // /features/features.0/features.0.2/Clip, 4096 DReLUs, 475136 B, 8 rounds
%6 = slice %5, starts=[0,0,0,0], steps=[1,1,1,1] : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%7 = slice %5, starts=[1,0,0,0], steps=[1,1,1,1] : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%8 = sub %6, %7 : [1,8,16,16]  // /features/features.0/features.0.2/Clip
%9 = conv %8, #2, #3, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.0/Conv, 81920 B, 1 rounds
%10 = trunc %9, bits=20, exact=0 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.0/Conv, 197632 B, 1 rounds
%11 = add_public %10, value=-6291456 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%12 = concat %10, %11, axis=0 : [2,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%13 = relu %12, bits=64, dropped=0, radix=2 : [2,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip, 16384 DReLUs, 1900544 B, 8 rounds
%14 = slice %13, starts=[0,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%15 = slice %13, starts=[1,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%16 = sub %14, %15 : [1,32,16,16]  // /features/features.1/conv/conv.0/conv.0.2/Clip
%17 = conv %16, #4, #5, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=32 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.0/Conv, 131072 B, 1 rounds
%18 = trunc %17, bits=21, exact=0 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.0/Conv, 197632 B, 1 rounds
%19 = add_public %18, value=-6291456 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%20 = concat %18, %19, axis=0 : [2,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%21 = relu %20, bits=64, dropped=0, radix=2 : [2,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip, 16384 DReLUs, 1900544 B, 8 rounds
%22 = slice %21, starts=[0,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%23 = slice %21, starts=[1,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%24 = sub %22, %23 : [1,32,16,16]  // /features/features.1/conv/conv.1/conv.1.2/Clip
%25 = conv %24, #6, #7, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,8,16,16]  // /features/features.1/conv/conv.2/conv.2.0/Conv, 81920 B, 1 rounds
%26 = trunc %25, bits=22, exact=0 : [1,8,16,16]  // /features/features.1/conv/conv.2/conv.2.0/Conv, 49408 B, 1 rounds
%27 = add %8, %26 : [1,8,16,16]  // /features/features.1/Add
%28 = conv %27, #8, #9, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.0/Conv, 81920 B, 1 rounds
%29 = trunc %28, bits=21, exact=0 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.0/Conv, 197632 B, 1 rounds
%30 = add_public %29, value=-6291456 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%31 = concat %29, %30, axis=0 : [2,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%32 = relu %31, bits=64, dropped=0, radix=2 : [2,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip, 16384 DReLUs, 1900544 B, 8 rounds
%33 = slice %32, starts=[0,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%34 = slice %32, starts=[1,0,0,0], steps=[1,1,1,1] : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%35 = sub %33, %34 : [1,32,16,16]  // /features/features.2/conv/conv.0/conv.0.2/Clip
%36 = conv %35, #10, #11, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=32 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.0/Conv, 81920 B, 1 rounds
%37 = trunc %36, bits=21, exact=0 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.0/Conv, 49408 B, 1 rounds
%38 = add_public %37, value=-6291456 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%39 = concat %37, %38, axis=0 : [2,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%40 = relu %39, bits=64, dropped=0, radix=2 : [2,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip, 4096 DReLUs, 475136 B, 8 rounds
%41 = slice %40, starts=[0,0,0,0], steps=[1,1,1,1] : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%42 = slice %40, starts=[1,0,0,0], steps=[1,1,1,1] : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%43 = sub %41, %42 : [1,32,8,8]  // /features/features.2/conv/conv.1/conv.1.2/Clip
%44 = conv %43, #12, #13, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,16,8,8]  // /features/features.2/conv/conv.2/conv.2.0/Conv, 24576 B, 1 rounds
%45 = trunc %44, bits=22, exact=0 : [1,16,8,8]  // /features/features.2/conv/conv.2/conv.2.0/Conv, 24704 B, 1 rounds
%46 = conv %45, #14, #15, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.0/Conv, 32768 B, 1 rounds
%47 = trunc %46, bits=21, exact=0 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.0/Conv, 74112 B, 1 rounds
%48 = add_public %47, value=-6291456 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%49 = concat %47, %48, axis=0 : [2,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%50 = relu %49, bits=64, dropped=0, radix=2 : [2,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip, 6144 DReLUs, 712704 B, 8 rounds
%51 = slice %50, starts=[0,0,0,0], steps=[1,1,1,1] : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%52 = slice %50, starts=[1,0,0,0], steps=[1,1,1,1] : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%53 = sub %51, %52 : [1,48,8,8]  // /features/features.3/conv/conv.0/conv.0.2/Clip
%54 = conv %53, #16, #17, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=48 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.0/Conv, 49152 B, 1 rounds
%55 = trunc %54, bits=21, exact=0 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.0/Conv, 74112 B, 1 rounds
%56 = add_public %55, value=-6291456 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%57 = concat %55, %56, axis=0 : [2,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%58 = relu %57, bits=64, dropped=0, radix=2 : [2,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip, 6144 DReLUs, 712704 B, 8 rounds
%59 = slice %58, starts=[0,0,0,0], steps=[1,1,1,1] : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%60 = slice %58, starts=[1,0,0,0], steps=[1,1,1,1] : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%61 = sub %59, %60 : [1,48,8,8]  // /features/features.3/conv/conv.1/conv.1.2/Clip
%62 = conv %61, #18, #19, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,16,8,8]  // /features/features.3/conv/conv.2/conv.2.0/Conv, 32768 B, 1 rounds
%63 = trunc %62, bits=22, exact=0 : [1,16,8,8]  // /features/features.3/conv/conv.2/conv.2.0/Conv, 24704 B, 1 rounds
%64 = add %45, %63 : [1,16,8,8]  // /features/features.3/Add
%65 = global_avg_pool %64, shift=24 : [1,16,1,1]  // /ReduceMean
%66 = trunc %65, bits=24, exact=0 : [1,16,1,1]  // /ReduceMean, 512 B, 1 rounds
%67 = reshape %66 : [1,16]  // /ReduceMean
%68 = dense %67, #20, #21 : [1,10]  // /classifier/Gemm, 208 B, 1 rounds
%69 = trunc %68, bits=21, exact=0 : [1,10]  // /classifier/Gemm, 248 B, 1 rounds
%70 = reveal client %69 : [1,10]  // output, 80 B, 1 rounds
; outputs: %70
; the client receives %70 = %69 '/classifier/Gemm' [1,10]: 10 values, 80 B, an output
; total: 69632 DReLUs, 80 rounds, 5712088 B online + 3944000 B offline per inference, 33600 B per session
