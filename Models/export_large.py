#!/usr/bin/env python3
"""Export full-size benchmark CNNs (random seeded weights) OUTSIDE the repository.

These are too large to commit (ResNet50 is ~100 MB); they exist to measure mpcc on
realistic sizes (import time, memory, planning, protocol cost). Nothing in the tests
depends on them.

    python3 Models/export_large.py                 # writes into /tmp/mpcc-large
    python3 Models/export_large.py /some/dir       # or a directory of your choice
    python3 Models/export_large.py --only resnet18_cifar

Writes, per model NAME:

    NAME.onnx          legacy (TorchScript) exporter, opset 13, BatchNormalization nodes
                       kept (training=TrainingMode.PRESERVE on an eval-mode model)
    NAME_input.npy     float32 NCHW input, batch 1 (seeded standard normal)
    NAME_output.npy    onnxruntime's output on it (graph optimizations off), float32
                       (int64 labels for the _labels models)

Models (architectures written out here; torchvision is not needed):

    resnet50        torchvision-style ResNet50 (v1.5: stride on the 3x3 conv of the
                    bottleneck), 7x7/2 stem + MaxPool 3/2, [3,4,6,3] bottlenecks,
                    1000 classes, input 1x3x224x224
    resnet18_cifar  CIFAR ResNet18: 3x3 stride-1 stem conv, no max pool, [2,2,2,2] basic
                    blocks, 100 classes, input 1x3x32x32
    mobilenet_v2    torchvision-style MobileNetV2 (inverted residuals, depthwise 3x3,
                    ReLU6), 1000 classes, input 1x3x224x224
    deeplabv3_resnet50  torchvision-style DeepLabV3: dilated ResNet50 backbone (output
                    stride 8), ASPP (rates 12/24/36, image pooling), bilinear upsampling
                    to the input (sizes from a Shape/Slice/Concat chain), 21 classes,
                    input 1x3x256x256
    deeplabv3_mobilenetv2  the same DeepLabV3 head (ASPP rates 12/24/36, 21 classes) on
                    a MobileNetV2 backbone (width 1.0, ReLU6, depthwise 3x3) at output
                    stride 8 as mmseg's deeplabv3 m-v2-d8: the 64- and 96-channel stages
                    with stride 1 and dilation 2, the 160- and 320-channel ones with
                    stride 1 and dilation 4, the 320-channel map into the ASPP (no 1x1
                    conv to 1280); input 1x3x256x256
    deeplabv3_resnet50_labels, deeplabv3_mobilenetv2_labels
                    the same two models (same seed: same weights, BN statistics and
                    input) ending in .argmax(1): the graph's output is the int64 label
                    map 1x256x256, and NAME_output.npy holds onnxruntime's int64 labels
                    (torch and onnxruntime labels are checked to agree on >= 99.9% of the
                    pixels, the rest being near-ties; the top-2 logit gap is printed)

Weights are He-normal and BatchNorm affine parameters random; the BN running statistics
are then calibrated on a few seeded random batches, so activations stay in a sane range
through the deep network, as in a trained model (ResNet50 logits |y| max ~3 rather than
~650). Everything is seeded and single-threaded, so reruns with the same package versions
give the same files.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

sys.dont_write_bytecode = True  # no Models/__pycache__ from importing generate.py
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import ort_run, save_npy, seed_for, strip_metadata  # noqa: E402


def build_models():
    import torch
    import torch.nn as nn

    def conv3x3(cin, cout, stride=1, dilation=1):
        return nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False)

    def conv1x1(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 1, stride, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(cin, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride=1, downsample=None, dilation=1):
            super().__init__()
            self.conv1 = conv1x1(cin, planes)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = conv3x3(planes, planes, stride, dilation)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = conv1x1(planes, planes * 4)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes, cifar_stem=False, dilate=(False, False, False)):
            super().__init__()
            self.inplanes = 64
            self.dilation = 1
            if cifar_stem:
                self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
                self.maxpool = None
            else:
                self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self._make_layer(block, 64, layers[0])
            self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
            self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
            self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * block.expansion, num_classes)

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            # torchvision's replace_stride_with_dilation: a dilated layer keeps the map
            # size and widens its 3x3 convolutions instead (DeepLabV3's output stride 8)
            previous = self.dilation
            if dilate:
                self.dilation *= stride
                stride = 1
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                           nn.BatchNorm2d(planes * block.expansion))
            extra = {} if previous == 1 else {"dilation": previous}
            layers = [block(self.inplanes, planes, stride, downsample, **extra)]
            self.inplanes = planes * block.expansion
            extra = {} if self.dilation == 1 else {"dilation": self.dilation}
            layers += [block(self.inplanes, planes, **extra) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def features(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            if self.maxpool is not None:
                x = self.maxpool(x)
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))

        def forward(self, x):
            return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))

    def conv_bn_relu(cin, cout, kernel=1, dilation=1):
        return [nn.Conv2d(cin, cout, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class DeepLabV3(nn.Module):
        # torchvision's deeplabv3_resnet50: dilated ResNet50 (output stride 8), ASPP with
        # rates 12/24/36 and image pooling, a 3x3 head and a bilinear upsample to the input.
        # `backbone` (a module with .features(x)) and its channel count replace the
        # ResNet50. With `labels` set, forward ends in the per-pixel argmax (int64).
        def __init__(self, num_classes, backbone=None, channels=2048):
            super().__init__()
            self.backbone = backbone or ResNet(Bottleneck, [3, 4, 6, 3], 1000, dilate=(False, True, True))
            self.branches = nn.ModuleList([nn.Sequential(*conv_bn_relu(channels, 256))]
                                          + [nn.Sequential(*conv_bn_relu(channels, 256, 3, rate)) for rate in (12, 24, 36)])
            self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(channels, 256))
            self.project = nn.Sequential(*conv_bn_relu(5 * 256, 256), nn.Dropout(0.5))
            self.head = nn.Sequential(*conv_bn_relu(256, 256, 3), nn.Conv2d(256, num_classes, 1))
            self.labels = False

        def logits(self, x):
            f = self.backbone.features(x)
            pooled = nn.functional.interpolate(self.pooling(f), size=f.shape[-2:], mode="bilinear", align_corners=False)
            y = self.project(torch.cat([branch(f) for branch in self.branches] + [pooled], 1))
            return nn.functional.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)

        def forward(self, x):
            y = self.logits(x)
            return y.argmax(1) if self.labels else y

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand, dilation=1):
            super().__init__()
            hidden = cin * expand
            layers = []
            if expand != 1:
                layers += [conv1x1(cin, hidden), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
            layers += [nn.Conv2d(hidden, hidden, 3, stride, dilation, dilation=dilation, groups=hidden, bias=False),
                       nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                       conv1x1(hidden, cout), nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    class MobileNetV2(nn.Module):
        # (expansion, channels, repeats, first stride), as in torchvision's mobilenet_v2
        settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

        def __init__(self, num_classes):
            super().__init__()
            layers = [conv3x3(3, 32, 2), nn.BatchNorm2d(32), nn.ReLU6(inplace=True)]
            cin = 32
            for expand, cout, repeats, stride in self.settings:
                for i in range(repeats):
                    layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                    cin = cout
            layers += [conv1x1(cin, 1280), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True)]
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(1280, num_classes)

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class DilatedMobileNetV2(nn.Module):
        # MobileNetV2 (width 1.0) as a DeepLabV3 backbone at output stride 8, as mmseg's
        # deeplabv3 m-v2-d8: the stages of 64 and 96 channels have stride 1 and dilation 2,
        # those of 160 and 320 stride 1 and dilation 4 (every block of a stage, its first
        # included); no final 1x1 conv to 1280, the 320-channel map feeds the ASPP
        settings = [(1, 16, 1, 1, 1), (6, 24, 2, 2, 1), (6, 32, 3, 2, 1), (6, 64, 4, 1, 2),
                    (6, 96, 3, 1, 2), (6, 160, 3, 1, 4), (6, 320, 1, 1, 4)]
        channels = 320

        def __init__(self):
            super().__init__()
            layers = [conv3x3(3, 32, 2), nn.BatchNorm2d(32), nn.ReLU6(inplace=True)]
            cin = 32
            for expand, cout, repeats, stride, dilation in self.settings:
                for i in range(repeats):
                    layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand, dilation))
                    cin = cout
            self.layers = nn.Sequential(*layers)

        def features(self, x):
            return self.layers(x)

    def labels_variant(make):
        def make_labels():
            model = make()
            model.labels = True
            return model
        return make_labels

    deeplab_mobilenetv2 = lambda: DeepLabV3(21, DilatedMobileNetV2(), DilatedMobileNetV2.channels)  # noqa: E731
    deeplab_resnet50 = lambda: DeepLabV3(21)  # noqa: E731
    return {
        "resnet50": dict(make=lambda: ResNet(Bottleneck, [3, 4, 6, 3], 1000),
                         shape=(1, 3, 224, 224), calib_batch=8),
        "resnet18_cifar": dict(make=lambda: ResNet(BasicBlock, [2, 2, 2, 2], 100, cifar_stem=True),
                               shape=(1, 3, 32, 32), calib_batch=64),
        "mobilenet_v2": dict(make=lambda: MobileNetV2(1000), shape=(1, 3, 224, 224), calib_batch=16),
        "deeplabv3_resnet50": dict(make=deeplab_resnet50, shape=(1, 3, 256, 256), calib_batch=4),
        "deeplabv3_mobilenetv2": dict(make=deeplab_mobilenetv2, shape=(1, 3, 256, 256), calib_batch=8),
        # the same models (weights, input) ending in the per-pixel argmax: int64 labels
        "deeplabv3_resnet50_labels": dict(make=labels_variant(deeplab_resnet50), base="deeplabv3_resnet50",
                                          shape=(1, 3, 256, 256), calib_batch=4),
        "deeplabv3_mobilenetv2_labels": dict(make=labels_variant(deeplab_mobilenetv2), base="deeplabv3_mobilenetv2",
                                             shape=(1, 3, 256, 256), calib_batch=8),
    }


def init_and_calibrate(model, name: str, shape, calib_batch: int) -> None:
    import torch
    import torch.nn as nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 1.0 / math.sqrt(m.in_features))
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)
        # random BN affine parameters first, then the running statistics from data
        # (cumulative average over a few random batches), so every BN's statistics match
        # what its input really is at inference (randomizing gamma afterwards would make
        # the scale drift compound through the 50-odd BNs of ResNet50)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.3, 0.3)
            m.reset_running_stats()
            m.momentum = None
        model.train()
        rng = np.random.default_rng(seed_for(name + "/calibration"))
        for _ in range(2):
            xb = rng.standard_normal((calib_batch,) + tuple(shape[1:])).astype(np.float32)
            model(torch.from_numpy(xb))
        model.eval()
        for m in bns:
            m.momentum = 0.1  # exporter writes it as an attribute; keep the usual value


def export(name: str, spec: dict, out_dir: Path) -> dict:
    import torch

    t0 = time.monotonic()
    # a _labels variant is its base model (same seed: same weights, statistics, input)
    # ending in the argmax
    seed_name = spec.get("base", name)
    torch.manual_seed(seed_for(seed_name))
    model = spec["make"]()
    init_and_calibrate(model, seed_name, spec["shape"], spec["calib_batch"])
    rng = np.random.default_rng(seed_for(seed_name))
    x = rng.standard_normal(spec["shape"]).astype(np.float32)

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), f, dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["output"],
                          training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load_from_string(f.getvalue())
    strip_metadata(m)
    onnx.checker.check_model(m)
    path = out_dir / f"{name}.onnx"
    onnx.save_model(m, str(path))

    (y,) = ort_run(path, {"input": x})
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    labels = None
    if getattr(model, "labels", False):
        # int64 labels: torch and onnxruntime may differ where two logits (nearly) tie
        agree = float(np.mean(y == y_torch))
        diff = 1.0 - agree
        if y.dtype != np.int64 or agree < 0.999:
            raise RuntimeError(f"{name}: onnxruntime and torch labels agree on {100 * agree:.3f}% of the pixels")
        with torch.no_grad():
            logits = model.logits(torch.from_numpy(x)).numpy()
        top2 = np.sort(logits, axis=1)[:, -2:]
        gap = top2[:, 1] - top2[:, 0]
        labels = dict(agree=agree, classes=np.bincount(y.ravel(), minlength=logits.shape[1]),
                      gap_min=float(gap.min()), gap_below_1e3=float(np.mean(gap < 1e-3)),
                      logits_absmax=float(np.abs(logits).max()))
        base_output = out_dir / f"{spec['base']}_output.npy"
        if base_output.exists():
            # the base's onnxruntime logits (same weights and input) give the same labels
            labels["base_agree"] = float(np.mean(np.load(base_output).argmax(1) == y))
    else:
        diff = float(np.max(np.abs(y - y_torch)))
        if not np.all(np.isfinite(y)) or diff > 1e-3 * max(1.0, float(np.abs(y_torch).max())):
            raise RuntimeError(f"{name}: onnxruntime and torch disagree (max |diff| {diff:.3g})")
    save_npy(out_dir / f"{name}_input.npy", x)
    save_npy(out_dir / f"{name}_output.npy", y)
    n_params = sum(p.numel() for p in model.parameters())
    bn = sum(1 for n in m.graph.node if n.op_type == "BatchNormalization")
    return dict(name=name, path=path, bytes=path.stat().st_size, params=n_params,
                nodes=len(m.graph.node), bn_nodes=bn, out_shape=y.shape,
                y_absmax=float(np.abs(y).max()), diff=diff, labels=labels,
                seconds=time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", type=Path, default=Path("/tmp/mpcc-large"),
                    help="output directory (default /tmp/mpcc-large)")
    ap.add_argument("--only", action="append", default=None,
                    help="model name (repeatable): resnet50, resnet18_cifar, mobilenet_v2, "
                         "deeplabv3_resnet50, deeplabv3_mobilenetv2, deeplabv3_resnet50_labels, "
                         "deeplabv3_mobilenetv2_labels")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    models = build_models()
    names = args.only or list(models)
    bad = [n for n in names if n not in models]
    if bad:
        ap.error(f"unknown model(s): {', '.join(bad)} (have {', '.join(models)})")
    out_dir = args.out_dir.resolve()
    repo_models = Path(__file__).resolve().parent
    if out_dir == repo_models or repo_models in out_dir.parents:
        ap.error(f"{out_dir} is inside Models/; these files are not meant to be committed")
    out_dir.mkdir(parents=True, exist_ok=True)

    for name in names:
        r = export(name, models[name], out_dir)
        head = (f"{r['path']}: {r['bytes'] / 1e6:.1f} MB, {r['params'] / 1e6:.2f} M params, "
                f"{r['nodes']} nodes ({r['bn_nodes']} BatchNormalization), output "
                f"{'x'.join(map(str, r['out_shape']))}")
        if r["labels"] is None:
            print(f"{head} |y| max {r['y_absmax']:.3g}, torch vs ORT max |diff| {r['diff']:.2g}, "
                  f"{r['seconds']:.1f} s")
            continue
        lab = r["labels"]
        classes = ", ".join(f"{k}: {c}" for k, c in enumerate(lab["classes"]) if c)
        base = (f", same as the argmax of {models[name]['base']}_output.npy on "
                f"{100 * lab['base_agree']:.3f}%" if "base_agree" in lab else "")
        print(f"{head} int64 labels, torch vs ORT labels agree on {100 * lab['agree']:.3f}% of "
              f"the pixels{base}; pixels per class {{{classes}}}; float logits |y| max "
              f"{lab['logits_absmax']:.3g}, top-2 gap min {lab['gap_min']:.2g}, below 1e-3 on "
              f"{100 * lab['gap_below_1e3']:.3f}% of the pixels; {r['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
