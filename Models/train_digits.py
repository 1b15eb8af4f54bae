#!/usr/bin/env python3
"""Train the `digits_resnet` fixture: a small ResNet-style CNN trained on scikit-learn's
real handwritten digits (8x8, upsampled to 16x16), with calibration and held-out test
images, for the Block-ReLU planner's accuracy tables (distortion is measured on
calibration.npy, accuracy on test.npy). The second real-data model beside mnist_resnet.

Run (from anywhere; CPU only, one thread, well under a minute; see "Result" below):

    pip install torch onnx onnxruntime numpy scikit-learn
    python3 Models/train_digits.py                 # rewrites Models/digits_resnet/
    python3 Models/train_digits.py --out /tmp/d    # writes /tmp/d/ instead (e.g. to diff)

Models/generate.py never writes or deletes Models/digits_resnet/.

Data. scikit-learn's digits data set (`sklearn.datasets.load_digits()`: 1,797 8x8
grayscale digits 0..9, 174 to 183 per class, pixel values 0..16, the test part of the UCI
"Optical Recognition of Handwritten Digits" set, read from
sklearn/datasets/data/digits.csv.gz). It ships inside the scikit-learn wheel, so nothing
is downloaded at run time. A seeded, stratified split: 40 images per class (400) held out
as test.npy, never seen in training, and the other 1,397 for training; calibration.npy is
the first 256 of the (shuffled) training images, as for mnist_resnet. Pixels are scaled to
[0, 1] (x / 16) and normalised like MNIST's, with this training split's pixel mean and
standard deviation: (x / 16 - 0.3060) / 0.3763.

Resolution. The 8x8 images are upsampled to 16x16 (bilinear, align_corners=False, before
normalisation) and the network sees 16x16. At 8x8 the two 2x2 max pools would leave 4x4
and 2x2 maps, on which every block size above 2x2 covers the whole map (a 3x3 block on a
2x2 map is 1x1 per channel), so the planner's uniform 3x3 / 4x4 / 6x6 / 8x8 rows would
collapse into one another; at 16x16 the maps are 16, 8 and 4 wide. Bilinear rather than
nearest, so the input is not made of constant 2x2 blocks (which would flatter 2x2 block
ReLUs on the first layers). The cost: test.npy and calibration.npy are 4x larger.

Model (DigitsResNet below, 1x16x16 -> 10 logits):

    stem    conv 1->16 3x3 + BN + ReLU                    16x16x16
    layer1  basic block 16 (two 3x3 conv-BN, identity)    16x16x16
    pool1   MaxPool 2x2 / 2                               16x8x8
    layer2  basic block 32 (1x1 conv-BN shortcut)         32x8x8
    pool2   MaxPool 2x2 / 2                               32x4x4
    layer3  basic block 32 (two 3x3 conv-BN, identity)    32x4x4
    GAP, flatten, Linear 32->10

Seven ReLU layers, 176 ReLU channels, 17,408 DReLUs per image (sum of C*H*W):

    ONNX Relu output tensor            C   H   W   C*H*W
    /relu/Relu_output_0               16  16  16    4096
    /layer1/relu/Relu_output_0        16  16  16    4096
    /layer1/relu_1/Relu_output_0      16  16  16    4096
    /layer2/relu/Relu_output_0        32   8   8    2048
    /layer2/relu_1/Relu_output_0      32   8   8    2048
    /layer3/relu/Relu_output_0        32   4   4     512
    /layer3/relu_1/Relu_output_0      32   4   4     512

As in mnist_resnet, each MaxPool takes a block's final ReLU output (layer1's and
layer2's), so max pooling sits right after ReLUs; see "Result" for the parameter count
and what swapping the pools for AveragePool (mpcc's default maxpool-to-avgpool rewrite)
does to the accuracy: compile this model with --keep-maxpool. layer2's bn2 bias and its
shortcut BN bias train to identical bytes (zero init, same gradient: both add into the
same sum), so the exporter shares them through an Identity node on an initializer.

Training. Adam (lr 3e-3, weight decay 1e-4) with a one-cycle schedule, batch 64, 40
epochs, cross-entropy; light augmentation (random shifts of up to 2 pixels of the 16x16
image, i.e. one pixel of the original, drawn from a seeded generator). Determinism:
torch.manual_seed, a seeded numpy Generator for the split, a seeded torch.Generator for
shuffling and shifts, one thread, torch.use_deterministic_algorithms(True); onnxruntime
runs single-threaded with graph optimizations off. Same package versions -> same bytes.

What it writes into Models/digits_resnet/ (all .npy little-endian, C order, format 1.0):

    model.onnx                legacy (TorchScript) exporter, opset 13 (as mnist_resnet),
                              eval mode, training=TrainingMode.PRESERVE
                              (BatchNormalization nodes kept, as in Models/generate.py),
                              dynamic batch axis "N", input "input" Nx1x16x16, output
                              "output" Nx10 (logits); exported at opset 17
                              instead, mpcc's float outputs are bit-identical
    calibration.npy           float32 256x1x16x16, normalised TRAINING images
    calibration_labels.npy    int64 256
    test.npy                  float32 400x1x16x16, normalised held-out images (40 per
                              class, never used in training)
    test_labels.npy           int64 400
    input.npy                 float32 2x1x16x16: test.npy[:2] (2 inferences)
    output.npy                float32 2x10: onnxruntime's logits for input.npy

Result (torch 2.15.0+cu132 run on CPU, onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6,
scikit-learn 1.9.1; one thread of a shared 2-core machine). Four runs wrote
byte-identical files.

    parameters                    38,266; model.onnx 161,405 B
    accuracy (torch, eval mode)   train 1,397: 100.00%   test.npy 400: 99.50% (398/400)
    accuracy (onnxruntime)        test.npy: 99.50%       calibration.npy: 100.00%
    torch vs onnxruntime          max |logit diff| on test.npy 4.8e-06, same argmax
    MaxPool -> AveragePool        same weights, test.npy: 30.00% (120/400); top class
                                  agrees with the original's on 30.5% of test.npy
    time                          training 32 to 36 s wall (40 epochs) on a loaded
                                  machine; the whole script 39 to 45 s wall, 25 to 28 s
                                  user CPU
    files                         model.onnx 161,405 B; calibration.npy 262,272 B;
                                  test.npy 409,728 B; the rest 7,888 B; 841,293 B in all
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fixture_training import Config, build_model, predict, report, train, write_fixture  # noqa: E402
from generate import ort_run  # noqa: E402

SEED = 20240611
MEAN, STD = 0.3060, 0.3763          # pixel mean / std (x / 16) of the 1,397 training images
SIZE = 16                           # the 8x8 digits are upsampled to SIZE x SIZE
TEST_PER_CLASS = 40
N_CALIBRATION = 256
EPOCHS, BATCH, LR, WEIGHT_DECAY, MAX_SHIFT = 40, 64, 3e-3, 1e-4, 2


def load_split():
    """(train_x, train_y, test_x, test_y): normalised float32 Nx1x16x16 images and int64
    labels; test = the 400 held-out images written to test.npy (40 per class)."""
    import torch
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = np.asarray(digits.images, dtype=np.float64).reshape(-1, 1, 8, 8) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    X = torch.nn.functional.interpolate(torch.from_numpy(X), size=(SIZE, SIZE),
                                        mode="bilinear", align_corners=False).numpy()
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:TEST_PER_CLASS])
        train.append(idx[TEST_PER_CLASS:])
    out = []
    for parts in (train, test):
        idx = rng.permutation(np.concatenate(parts))
        x = ((X[idx] - MEAN) / STD).astype(np.float32)
        out += [x, y[idx]]
    return tuple(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "digits_resnet",
                    help="fixture folder to (re)write (default: Models/digits_resnet)")
    args = ap.parse_args()

    import sklearn
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    config = Config(seed=SEED, mean=MEAN, std=STD, epochs=EPOCHS, batch=BATCH, lr=LR, weight_decay=WEIGHT_DECAY,
                    max_shift=MAX_SHIFT, n_calibration=N_CALIBRATION, widths=(16, 32, 32),
                    extra_versions=[("scikit-learn", sklearn.__version__)])

    train_x, train_y, test_x, test_y = load_split()
    model = build_model(config)  # 16x16x16, 16x8x8, 32x8x8, 32x4x4, 32x4x4
    train_time = train(torch, config, model, train_x, train_y, test_x, test_y, t0)
    acc = lambda x, y: float(np.mean(predict(torch, model, x).argmax(1) == y))  # noqa: E731
    acc_train, acc_test = acc(train_x, train_y), acc(test_x, test_y)

    out = args.out.resolve()
    m, y_test_ort, ort_figures = write_fixture(torch, config, model, train_x, train_y, test_x, test_y, out)
    # the same weights with both MaxPools as AveragePools (what mpcc's default
    # maxpool-to-avgpool rewrite computes), on test.npy
    avg = onnx.ModelProto()
    avg.CopyFrom(m)
    for n in avg.graph.node:
        if n.op_type == "MaxPool":
            n.op_type = "AveragePool"
            keep = [a for a in n.attribute if a.name in ("kernel_shape", "strides", "pads")]
            del n.attribute[:]
            n.attribute.extend(keep)
    (y_avg,) = ort_run(avg.SerializeToString(), {"input": test_x})
    avg_test = float(np.mean(y_avg.argmax(1) == test_y))
    avg_agree = float(np.mean(y_avg.argmax(1) == y_test_ort.argmax(1)))
    report(torch, config, m, model, out, train_time, t0,
           f"torch accuracy: train ({len(train_x)}, no augmentation) {acc_train:.4f}, "
           f"test.npy ({len(test_x)}) {acc_test:.4f}", ort_figures,
           [f"MaxPool -> AveragePool (same weights): test.npy accuracy {avg_test:.4f}, top class "
            f"agrees with the original's on {avg_agree:.4f}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
