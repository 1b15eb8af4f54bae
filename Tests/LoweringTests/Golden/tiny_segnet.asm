; mpcb format 5, ring Z_2^64 (z32: Z_2^32), 20 fractional bits, exact DReLU, program hash ec28d01993627a3d...
; #0 = weight [8,3,3,3] frac 21  // enc1.weight
; #1 = weight [8] frac 41  // enc1.bias
; #2 = weight [16,8,3,3] frac 22  // enc2.weight
; #3 = weight [16] frac 42  // enc2.bias
; #4 = weight [16,16,3,3] frac 23  // enc3.weight
; #5 = weight [16] frac 43  // enc3.bias
; #6 = weight [8,16,1,1] frac 21  // lateral.weight
; #7 = weight [8] frac 41  // lateral.bias
; #8 = weight [5,8,3,3] frac 22  // head.weight
; #9 = weight [5] frac 42  // head.bias
%0 = input : [1,3,40,48]  // input
%1 = conv %0, #0, #1, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,8,20,24]  // /enc1/Conv, 76800 B, 1 rounds
%2 = trunc %1, bits=21, exact=0 : [1,8,20,24]  // /enc1/Conv, 92640 B, 1 rounds
%3 = relu %2, bits=64, dropped=0, radix=2 : [1,8,20,24]  // /Relu, 3840 DReLUs, 445440 B, 8 rounds
%4 = conv %3, #2, #3, strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,16,10,12]  // /enc2/Conv, 46080 B, 1 rounds
%5 = trunc %4, bits=22, exact=0 : [1,16,10,12]  // /enc2/Conv, 46320 B, 1 rounds
%6 = relu %5, bits=64, dropped=0, radix=2 : [1,16,10,12]  // /Relu_1, 1920 DReLUs, 222720 B, 8 rounds
%7 = conv %6, #4, #5, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,16,10,12]  // /enc3/Conv, 30720 B, 1 rounds
%8 = trunc %7, bits=23, exact=0 : [1,16,10,12]  // /enc3/Conv, 46320 B, 1 rounds
%9 = relu %8, bits=64, dropped=0, radix=2 : [1,16,10,12]  // /Relu_2, 1920 DReLUs, 222720 B, 8 rounds
%10 = resize %9, shift=12, rows=<20 taps>, columns=<24 taps> : [1,16,20,24]  // /Resize
%11 = trunc %10, bits=24, exact=0 : [1,16,20,24]  // /Resize, 245760 B, 1 rounds
%12 = conv %11, #6, #7, strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,8,20,24]  // /lateral/Conv, 92160 B, 1 rounds
%13 = trunc %12, bits=21, exact=0 : [1,8,20,24]  // /lateral/Conv, 92640 B, 1 rounds
%14 = add %13, %3 : [1,8,20,24]  // /Add
%15 = relu %14, bits=64, dropped=0, radix=2 : [1,8,20,24]  // /Relu_3, 3840 DReLUs, 445440 B, 8 rounds
%16 = conv %15, #8, #9, strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1 : [1,5,20,24]  // /head/Conv, 49920 B, 1 rounds
%17 = trunc %16, bits=22, exact=0 : [1,5,20,24]  // /head/Conv, 57904 B, 1 rounds
%18 = resize %17, shift=12, rows=<40 taps>, columns=<48 taps> : [1,5,40,48]  // /Resize_1
%19 = trunc %18, bits=24, exact=0 : [1,5,40,48]  // /Resize_1, 307200 B, 1 rounds
%20 = reveal client %19 : [1,5,40,48]  // output, 76800 B, 1 rounds
; outputs: %20
; the client receives %20 = %19 '/Resize_1' [1,5,40,48]: 9600 values, 76800 B, an output
; total: 11520 DReLUs, 45 rounds, 1429264 B online + 1168320 B offline per inference, 33280 B per session
