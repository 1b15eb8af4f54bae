"""What the trained real-data fixtures share (train_mnist.py, train_digits.py): the small
ResNet, the training loop with random shifts, the ONNX export exactly as
Models/generate.py exports its legacy whole models, the fixture files, and the report.
Each script supplies its data split, its widths and its constants (a `Config`)."""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from generate import ort_run, save_npy, strip_metadata


@dataclass
class Config:
    seed: int
    mean: float
    std: float
    epochs: int
    batch: int
    lr: float
    weight_decay: float
    max_shift: int
    n_calibration: int
    #: channels of the stem/layer1, layer2 and layer3
    widths: tuple = (16, 32, 64)
    extra_versions: list = field(default_factory=list)


def build_model(cfg: Config):
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

    w1, w2, w3 = cfg.widths

    class SmallResNet(nn.Module):
        """stem, block, max pool, block, max pool, block, global average pool, linear."""
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, w1, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w1)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = BasicBlock(w1, w1)
            self.pool1 = nn.MaxPool2d(2, 2)
            self.layer2 = BasicBlock(w1, w2)
            self.pool2 = nn.MaxPool2d(2, 2)
            self.layer3 = BasicBlock(w2, w3)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(w3, 10)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.pool1(self.layer1(x))
            x = self.pool2(self.layer2(x))
            x = self.layer3(x)
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)

    torch.manual_seed(cfg.seed)
    return SmallResNet()


def shift_batch(torch, xb, gen, cfg: Config):
    """Random translation by up to max_shift pixels per image, filling with the
    background value (normalised 0)."""
    n, side = xb.shape[0], xb.shape[-1]
    bg = (0.0 - cfg.mean) / cfg.std
    padded = torch.nn.functional.pad(xb, (cfg.max_shift,) * 4, value=bg)
    d = torch.randint(0, 2 * cfg.max_shift + 1, (n, 2), generator=gen)
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = int(d[i, 0]), int(d[i, 1])
        out[i] = padded[i, :, dy:dy + side, dx:dx + side]
    return out


def predict(torch, model, x, batch=500):
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])


def train(torch, cfg: Config, model, train_x, train_y, held_x, held_y, t0):
    """Adam with a one-cycle schedule and random shifts; prints each epoch's held-out
    accuracy. Returns the training time."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(train_x) + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    tx, ty = torch.from_numpy(train_x), torch.from_numpy(train_y)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(tx), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(tx), cfg.batch):
            idx = perm[i:i + cfg.batch]
            xb, yb = shift_batch(torch, tx[idx], gen, cfg), ty[idx]
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
        held = float(np.mean(predict(torch, model, held_x).argmax(1) == held_y))
        print(f"epoch {epoch + 1}/{cfg.epochs}: loss {loss_sum / total:.4f}, train acc (augmented, "
              f"train mode) {correct / total:.4f}, held-out acc {held:.4f}, "
              f"{time.time() - t0:.0f} s", flush=True)
    model.eval()
    return time.time() - t0


def export(torch, model, test_x, out: Path):
    """model.onnx in `out` (emptied first), checked."""
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
    return m


def write_fixture(torch, cfg: Config, model, train_x, train_y, test_x, test_y, out: Path):
    """Exports, checks onnxruntime against torch, writes the fixture's arrays; returns the
    ONNX model, onnxruntime's test logits and the accuracies to report."""
    m = export(torch, model, test_x, out)
    calib_x, calib_y = train_x[:cfg.n_calibration], train_y[:cfg.n_calibration]
    (y_test_ort,) = ort_run(out / "model.onnx", {"input": test_x})
    (y_calib_ort,) = ort_run(out / "model.onnx", {"input": calib_x})
    y_test_torch = predict(torch, model, test_x)
    diff = float(np.max(np.abs(y_test_ort - y_test_torch)))
    agree = float(np.mean(y_test_ort.argmax(1) == y_test_torch.argmax(1)))
    if diff > 1e-4 * max(1.0, float(np.abs(y_test_torch).max())) or agree != 1.0:
        raise RuntimeError(f"onnxruntime and torch disagree: max |diff| {diff:.3g}, "
                           f"argmax agreement {agree}")
    save_npy(out / "calibration.npy", calib_x)
    save_npy(out / "calibration_labels.npy", calib_y)
    save_npy(out / "test.npy", test_x)
    save_npy(out / "test_labels.npy", test_y)
    save_npy(out / "input.npy", test_x[:2])
    save_npy(out / "output.npy", y_test_ort[:2])
    ort_test = float(np.mean(y_test_ort.argmax(1) == test_y))
    ort_calib = float(np.mean(y_calib_ort.argmax(1) == calib_y))
    return m, y_test_ort, (ort_test, ort_calib, diff)


def report(torch, cfg: Config, m, model, out: Path, train_time, t0, accuracy_line, ort_figures, extra_lines=()):
    """ReLU layers as exported, times, accuracies, file sizes and versions."""
    ort_test, ort_calib, diff = ort_figures
    n_params = sum(p.numel() for p in model.parameters())
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
              for vi in inferred.graph.value_info}
    relus = [(n.output[0], *shapes[n.output[0]]) for n in m.graph.node if n.op_type == "Relu"]
    print(f"\nparameters {n_params}; ReLU layers {len(relus)}, channels "
          f"{sum(r[1] for r in relus)}, DReLUs per image {sum(r[1] * r[2] * r[3] for r in relus)}")
    for name, c, h, w in relus:
        print(f"  {name:32s} {c:3d} {h:3d} {w:3d} {c * h * w:7d}")
    print(f"\ntraining {train_time:.0f} s ({cfg.epochs} epochs, torch threads "
          f"{torch.get_num_threads()}), total {time.time() - t0:.0f} s")
    print(accuracy_line)
    print(f"onnxruntime accuracy: test.npy {ort_test:.4f}, calibration.npy {ort_calib:.4f}; "
          f"torch vs ORT logits max |diff| on test.npy {diff:.2g}")
    for line in extra_lines:
        print(line)
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    for k, v in sizes.items():
        print(f"  {k:24s} {v:9d}")
    print(f"  {'total':24s} {sum(sizes.values()):9d} bytes")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in (
        ("torch", torch.__version__), ("onnx", onnx.__version__),
        ("onnxruntime", ort.__version__), ("numpy", np.__version__), *cfg.extra_versions)))
