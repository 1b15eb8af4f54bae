#!/usr/bin/env python3
"""Fine-tunes an ONNX CNN under an mpcc block-size plan and exports it back to ONNX, so
that mpcc compiles the tuned weights with the same plan.

    mpcc MODEL.onnx --budget 0.07 --calibration X.npy --emit spec -o plan.json
    python3 Models/finetune.py MODEL.onnx --spec plan.json --train-x X.npy --train-y Y.npy \
        [--epochs 2] [--lr 1e-3] [--batch 32] [--optimizer adam|sgd] [--bn batch|eval|recalibrate] \
        [--distill 0] [--shift 0] [--seed 0] [--keep-maxpool] [--keep-relu6] -o TUNED.onnx
    mpcc TUNED.onnx --spec plan.json ...

    python3 Models/finetune.py --self-test      # the interpreter against every fixture's
                                                # output.npy under Models/ (needs no mpcc)

How. The ONNX graph is rebuilt as a torch module by a small interpreter (OnnxModule):
it holds the weights as parameters (conv and dense weights and biases, BatchNorm scale and
bias, per-channel Add/Mul constants; also when they reach their node through Identity
nodes) and the other initializers as constants, and evaluates the nodes in order; nodes
that depend on constants only (the exporters' shape arithmetic) are evaluated once when
the module is built. A graph with a static batch of 1 runs on batches (a leading 1 in
Reshape targets and Resize sizes becomes the batch, as mpcc rebatches). Dropout is the
identity. The same accuracy-changing
rewrites as mpcc are applied unless kept: MaxPool (and GlobalMaxPool) -> average pooling
with the same kernel, strides, pads and ceil mode, padded positions counted in the
divisor (--keep-maxpool keeps it); Clip(0, 6) = ReLU6 -> ReLU (--keep-relu6 keeps it).
Then every ReLU the plan names (by the ONNX name of its output tensor; a ReLU6 rewritten
to ReLU by the Clip's output name) becomes a BlockReLU (Models/blockrelu.py: mpcc's
semantics, straight-through gradient); the others stay ordinary ReLUs.

Training: CPU, cross-entropy on int64 labels (class per image, or per pixel for [N, C,
H, W] outputs) against the logits (the graph's first output, or the input of a trailing
Softmax / ArgMax), Adam (default) or SGD with momentum 0.9, cosine learning-rate decay,
seeded (--seed) shuffling, optional random shifts of up to --shift pixels (zero fill),
optional distillation from the original network (--distill A: no rewrites, no plan, as
teacher). Prints the loss and training accuracy of every epoch (of the batches as
trained). BatchNormalization (--bn): `batch` (default) trains with batch statistics and
then re-estimates the running statistics on the training inputs, layer by layer, under
the rewrites and block ReLUs; `eval` keeps the model's running statistics throughout and
trains only BN's scale and bias (with everything else); `recalibrate` re-estimates the
statistics before and after training and trains in eval mode. Re-estimated statistics
are exported.

Export: the original graph itself with the tuned initializer values written back
(same names, dtypes, opset), MaxPool nodes replaced by AveragePool (count_include_pad=1)
and Clip(0, 6) by Relu where rewritten; no block ReLUs (the plan stays a separate file),
so every value name, the planned ReLU outputs included, is the original one. The export
is checked: onnxruntime on the written model against the torch module with plain ReLUs.
"""
import argparse
import copy
import glob
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blockrelu import BlockReLU, load_plan  # noqa: E402

MODELS = os.path.dirname(os.path.abspath(__file__))


class Unsupported(Exception):
    pass


# ONNX TensorProto data types -> torch dtypes.
DTYPES = {
    onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.DOUBLE: torch.float32, onnx.TensorProto.FLOAT16: torch.float32,
    onnx.TensorProto.INT64: torch.int64, onnx.TensorProto.INT32: torch.int64, onnx.TensorProto.INT16: torch.int64,
    onnx.TensorProto.INT8: torch.int64, onnx.TensorProto.UINT8: torch.int64, onnx.TensorProto.UINT16: torch.int64,
    onnx.TensorProto.UINT32: torch.int64, onnx.TensorProto.UINT64: torch.int64, onnx.TensorProto.BOOL: torch.bool,
}


def to_torch(array):
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return torch.from_numpy(array.copy())
    if np.issubdtype(array.dtype, np.floating):
        return torch.from_numpy(array.astype(np.float32))
    return torch.from_numpy(array.astype(np.int64))


def attributes(node):
    out = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        out[attribute.name] = value
    return out


def ints_of(t):
    return [int(v) for v in t.reshape(-1).tolist()]


def floats_of(t):
    return [float(v) for v in t.reshape(-1).tolist()]


# ---------------------------------------------------------------- windows (as mpcc)


def window_count(size, kernel, stride, dilation, pad_begin, pad_end, ceil):
    """Output length along one axis; in ceil mode a last window starting in the end
    padding is dropped (mpcc's windowCount, the PyTorch rule)."""
    span = dilation * (kernel - 1) + 1
    padded = size + pad_begin + pad_end
    if padded < span:
        raise ValueError(f"a window of {kernel} (dilation {dilation}) does not fit an axis of {size} with pads {pad_begin}+{pad_end}")
    count = (padded - span) // stride + 1
    if ceil and (padded - span) % stride != 0:
        count += 1
        if (count - 1) * stride >= size + pad_begin:
            count -= 1
    return count


def spatial_pads(a, size, kernel, strides, dilations):
    """[top, left, bottom, right] from pads or auto_pad (mpcc's spatialPads)."""
    mode = a.get("auto_pad", "NOTSET") or "NOTSET"
    if mode == "NOTSET":
        pads = a.get("pads", [0, 0, 0, 0])
        if len(pads) != 4:
            raise Unsupported(f"pads {pads} are not 2-D")
        return list(pads)
    if mode == "VALID":
        return [0, 0, 0, 0]
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for axis in range(2):
            out = -(-size[axis] // strides[axis])
            total = max(0, (out - 1) * strides[axis] + (kernel[axis] - 1) * dilations[axis] + 1 - size[axis])
            small = total // 2
            begin.append(small if mode == "SAME_UPPER" else total - small)
            end.append(total - small if mode == "SAME_UPPER" else small)
        return begin + end
    raise Unsupported(f"auto_pad '{mode}'")


def pool2d(x, a, is_max, count_include_pad):
    if x.dim() != 4:
        raise Unsupported(f"{x.dim() - 2}-D pooling (only 2-D is supported)")
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides", [1, 1]))
    dilations = list(a.get("dilations", [1, 1]))
    ceil = bool(a.get("ceil_mode", 0))
    h, w = x.shape[2], x.shape[3]
    top, left, bottom, right = spatial_pads(a, [h, w], kernel, strides, dilations)
    oh = window_count(h, kernel[0], strides[0], dilations[0], top, bottom, ceil)
    ow = window_count(w, kernel[1], strides[1], dilations[1], left, right, ceil)
    if not is_max and dilations != [1, 1]:
        raise Unsupported("average pooling with dilations")
    # Extend the end padding so that the plain (floor-mode, unpadded) pooling below
    # yields exactly oh x ow windows; the divisor counts positions inside the padded
    # input (count_include_pad) or inside the input, as mpcc's PoolWindows does.
    extra_b = max(0, (oh - 1) * strides[0] + dilations[0] * (kernel[0] - 1) + 1 - (h + top + bottom))
    extra_r = max(0, (ow - 1) * strides[1] + dilations[1] * (kernel[1] - 1) + 1 - (w + left + right))
    if is_max:
        if top == left == bottom == right == extra_b == extra_r == 0:
            return F.max_pool2d(x, kernel, strides, 0, dilations)
        xp = F.pad(x, (left, right + extra_r, top, bottom + extra_b), value=-math.inf)
        return F.max_pool2d(xp, kernel, strides, 0, dilations)[:, :, :oh, :ow]
    if top == left == bottom == right == extra_b == extra_r == 0:
        return F.avg_pool2d(x, kernel, strides, 0)
    xp = F.pad(x, (left, right + extra_r, top, bottom + extra_b))
    sums = F.avg_pool2d(xp, kernel, strides, 0, divisor_override=1)[:, :, :oh, :ow]
    ones = torch.zeros((1, 1) + tuple(xp.shape[2:]), dtype=x.dtype)
    if count_include_pad:
        ones[:, :, :top + h + bottom, :left + w + right] = 1
    else:
        ones[:, :, top:top + h, left:left + w] = 1
    counts = F.avg_pool2d(ones, kernel, strides, 0, divisor_override=1)[:, :, :oh, :ow]
    return sums / counts.clamp(min=1)


# ---------------------------------------------------------------- resize (as mpcc / onnxruntime)


def resize_matrix(mode, coordinates, nearest_mode, in_size, out_size, scale):
    """The [out, in] matrix of one resized axis (mpcc's ResizeCoefficients.swift)."""
    f32 = np.float32
    scale = f32(scale)
    m = np.zeros((out_size, in_size), dtype=np.float32)
    for position in range(out_size):
        x = f32(position)
        if coordinates == "half_pixel":
            src = (x + f32(0.5)) / scale - f32(0.5)
        elif coordinates == "half_pixel_symmetric":
            adjustment = f32(out_size) / (scale * f32(in_size))
            center = f32(in_size) / f32(2)
            src = center * (f32(1) - adjustment) + (x + f32(0.5)) / scale - f32(0.5)
        elif coordinates == "pytorch_half_pixel":
            src = (x + f32(0.5)) / scale - f32(0.5) if out_size > 1 else f32(0)
        elif coordinates == "align_corners":
            src = f32(0) if out_size == 1 else x * f32(in_size - 1) / f32(out_size - 1)
        elif coordinates == "asymmetric":
            src = x / scale
        elif coordinates == "tf_half_pixel_for_nearest":
            src = (x + f32(0.5)) / scale
        else:
            raise Unsupported(f"coordinate_transformation_mode '{coordinates}'")
        src = f32(src)
        if mode == "nearest":
            fl = math.floor(src)
            if nearest_mode == "round_prefer_floor":
                index = fl if src - fl == 0.5 else int(math.copysign(math.floor(abs(src) + 0.5), src))
            elif nearest_mode == "round_prefer_ceil":
                index = int(math.copysign(math.floor(abs(src) + 0.5), src))
            elif nearest_mode == "floor":
                index = fl
            elif nearest_mode == "ceil":
                index = math.ceil(src)
            elif nearest_mode == "legacy":
                index = math.ceil(src) if scale < 1 else int(src)
            else:
                raise Unsupported(f"nearest_mode '{nearest_mode}'")
            m[position, min(max(int(index), 0), in_size - 1)] = 1
        else:
            clamped = f32(min(max(src, f32(0)), f32(in_size - 1)))
            low = min(int(clamped), in_size - 1)
            high = min(low + 1, in_size - 1)
            weight = f32(0) if high == low else f32(clamped - f32(low))
            m[position, low] += f32(1) - weight
            m[position, high] += weight
    return torch.from_numpy(m)


# ---------------------------------------------------------------- the interpreter

# Input slots that hold trainable weights when fed (directly or through Identity nodes)
# by a float initializer. Add/Sub/Mul constants only with more than one value (biases,
# per-channel scales), so that scalar constants keep their meaning.
WEIGHT_SLOTS = {"Conv": (1, 2), "BatchNormalization": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1),
                "Add": (0, 1), "Sub": (0, 1), "Mul": (0, 1)}


class OnnxModule(nn.Module):
    """A torch module evaluating an ONNX graph (see the module docstring)."""

    def __init__(self, model, plan=None, keep_maxpool=False, keep_relu6=False, trainable=True):
        super().__init__()
        self.model = model
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.keep_maxpool, self.keep_relu6 = keep_maxpool, keep_relu6
        self.nodes = list(graph.node)
        self.attrs = [attributes(n) for n in self.nodes]
        init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.initializer_dtypes = {t.name: t.data_type for t in graph.initializer}
        self.inputs = [i.name for i in graph.input if i.name not in init]
        # A graph exported for one image (static leading 1) runs on batches as mpcc's
        # rebatching does: a leading 1 in a Reshape target or Resize sizes is the batch.
        dims = [i.type.tensor_type.shape.dim for i in graph.input if i.name not in init]
        self.static_batch1 = bool(dims) and all(len(d) >= 1 and d[0].HasField("dim_value") and d[0].dim_value == 1 for d in dims)
        self.batch = None
        self.outputs = [o.name for o in graph.output]
        producer = {}
        for index, node in enumerate(self.nodes):
            for out in node.output:
                producer[out] = index

        # Which initializers are trainable.
        def source(name):
            while name in producer and self.nodes[producer[name]].op_type == "Identity":
                name = self.nodes[producer[name]].input[0]
            return name

        self.param_names = []
        if trainable:
            wanted = set()
            for node in self.nodes:
                for slot in WEIGHT_SLOTS.get(node.op_type, ()):
                    if slot < len(node.input) and node.input[slot]:
                        name = source(node.input[slot])
                        if name in init and np.issubdtype(init[name].dtype, np.floating):
                            if node.op_type in ("Add", "Sub", "Mul") and init[name].size < 2:
                                continue
                            wanted.add(name)
            self.param_names = [t.name for t in graph.initializer if t.name in wanted]
        self.params = nn.ParameterList([nn.Parameter(to_torch(init[n])) for n in self.param_names])
        self.param_index = {n: i for i, n in enumerate(self.param_names)}
        self.constants = {n: to_torch(v) for n, v in init.items() if n not in self.param_index}

        # One pass in graph order: the op each node runs (mpcc's rewrites applied), and
        # constant evaluation: nodes whose inputs are all constants run once, now (so a
        # Clip's bounds are known when the Clip is reached).
        self.kinds = []  # per node: the op to run (the op type, or Relu / Relu6 / AvgPoolFromMax ...)
        self.clip_bounds = {}
        self.rewritten = {"maxpool": 0, "relu6": 0}
        relu_outputs = {}
        static = set(self.constants)
        self.static_nodes = set()
        for index, node in enumerate(self.nodes):
            kind = node.op_type
            if node.domain not in ("", "ai.onnx"):
                raise Unsupported(f"ONNX op {node.domain}.{node.op_type} (node '{node.name or index}') is not supported by finetune.py")
            if kind not in OPS:
                raise Unsupported(f"ONNX op {node.op_type} (node '{node.name or index}') is not supported by finetune.py")
            if kind == "Clip":
                low, high = self._clip_bounds(index)
                self.clip_bounds[index] = (low, high)
                if low == 0 and high == 6:
                    kind = "Relu6"
                    if not keep_relu6:
                        kind = "Relu"
                        self.rewritten["relu6"] += 1
                elif low == 0 and high == math.inf:
                    kind = "Relu"
            elif kind == "MaxPool" and not keep_maxpool:
                if len(node.output) > 1 and node.output[1]:
                    raise Unsupported(f"MaxPool '{node.name}' uses its Indices output")
                kind = "AvgPoolFromMax"
                self.rewritten["maxpool"] += 1
            elif kind == "GlobalMaxPool" and not keep_maxpool:
                kind = "GlobalAveragePool"
                self.rewritten["maxpool"] += 1
            self.kinds.append(kind)
            if all((not i) or i in static for i in node.input):
                values = self._run(index, [self.constants[i] if i else None for i in node.input])
                for name, value in zip(node.output, values):
                    if name and value is not None:
                        self.constants[name] = value
                        static.add(name)
                self.static_nodes.add(index)
            elif kind == "Relu":
                relu_outputs[node.output[0]] = index
        self.dynamic = [i for i in range(len(self.nodes)) if i not in self.static_nodes]

        # The plan's block ReLUs.
        self.block_relus = nn.ModuleDict()
        self.block_of = {}
        for name, blocks in sorted((plan or {}).items()):
            if name not in relu_outputs:
                known = "its ReLU layers: " + ", ".join(list(relu_outputs)[:5]) if relu_outputs else "it has no ReLU layers"
                hint = " (a ReLU6 is a ReLU layer only when rewritten: drop --keep-relu6)" if any(
                    self.kinds[i] == "Relu6" and self.nodes[i].output[0] == name for i in range(len(self.nodes))) else ""
                raise ValueError(f"the plan names layer '{name}', which is not a ReLU output of this model{hint} ({known}{', ...' if len(relu_outputs) > 5 else ''})")
            key = f"b{relu_outputs[name]}"
            self.block_relus[key] = BlockReLU(blocks, name=name)
            self.block_of[relu_outputs[name]] = key
        self.relu_outputs = relu_outputs
        self.use_blocks = True
        self.batch_statistics = False
        self.recalibrate = None  # set by recalibrate_batchnorm for its one-pass mode
        self.source = source
        self.updated_constants = set()  # initializers changed by recalibrate_batchnorm

    def _clip_bounds(self, index):
        node, a = self.nodes[index], self.attrs[index]
        low, high = -math.inf, math.inf
        if self.opset < 11:
            low, high = a.get("min", low), a.get("max", high)
        else:
            for slot in (1, 2):
                if slot < len(node.input) and node.input[slot]:
                    name = node.input[slot]
                    value = self.constants.get(name)
                    if value is None:
                        raise Unsupported(f"Clip '{node.name}' with a bound computed at run time")
                    if slot == 1:
                        low = float(value.reshape(-1)[0])
                    else:
                        high = float(value.reshape(-1)[0])
        if low <= -3.4028234e38:
            low = -math.inf
        if high >= 3.4028234e38:
            high = math.inf
        return low, high

    def value(self, name, env):
        if name in env:
            return env[name]
        if name in self.param_index:
            return self.params[self.param_index[name]]
        return self.constants[name]

    def forward(self, *xs, outputs=None):
        env = dict(zip(self.inputs, xs))
        self.batch = xs[0].shape[0] if xs and xs[0].dim() >= 1 else None
        wanted = outputs or self.outputs
        remaining = {n for n in wanted if n not in env and n not in self.constants and n not in self.param_index}
        for index in self.dynamic:
            if not remaining:
                break  # the requested values are known: skip the rest of the graph
            node = self.nodes[index]
            values = self._run(index, [self.value(i, env) if i else None for i in node.input])
            for name, value in zip(node.output, values):
                if name:
                    env[name] = value
                    remaining.discard(name)
        result = [self.value(n, env) for n in wanted]
        return result[0] if len(result) == 1 else result

    def logits_name(self):
        """The first output, or the input of trailing Softmax / ArgMax / Identity nodes."""
        name = self.outputs[0]
        producer = {out: i for i, n in enumerate(self.nodes) for out in n.output}
        while name in producer and self.nodes[producer[name]].op_type in ("Softmax", "ArgMax", "Identity", "Dropout"):
            name = self.nodes[producer[name]].input[0]
        return name

    def _run(self, index, ins):
        return OPS[self.kinds[index]](self, index, self.attrs[index], ins)


def _binary(fn):
    return lambda m, i, a, x: [fn(x[0], x[1])]


def _div(a, b):
    if a.is_floating_point() or b.is_floating_point():
        return a.float() / b.float()
    return torch.div(a, b, rounding_mode="trunc")


def _conv(m, i, a, x):
    inp, weight, bias = x[0], x[1], x[2] if len(x) > 2 else None
    if inp.dim() != 4:
        raise Unsupported(f"{inp.dim() - 2}-D convolution (only 2-D is supported)")
    strides = list(a.get("strides", [1, 1]))
    dilations = list(a.get("dilations", [1, 1]))
    kernel = list(weight.shape[2:])
    top, left, bottom, right = spatial_pads(a, list(inp.shape[2:]), kernel, strides, dilations)
    if top == bottom and left == right:
        return [F.conv2d(inp, weight, bias, strides, (top, left), dilations, a.get("group", 1))]
    return [F.conv2d(F.pad(inp, (left, right, top, bottom)), weight, bias, strides, 0, dilations, a.get("group", 1))]


def _batchnorm(m, i, a, x):
    if a.get("spatial", 1) != 1:
        raise Unsupported("BatchNormalization with spatial=0")
    if any(o for o in m.nodes[i].output[1:]):
        raise Unsupported("BatchNormalization in training mode (extra outputs)")
    if m.recalibrate is not None:
        m.recalibrate(i, x[0])  # stores the new statistics of this BN, read below
        x = [x[0], x[1], x[2], m.constants[m.nodes[i].input[3]], m.constants[m.nodes[i].input[4]]]
    if m.batch_statistics and torch.is_grad_enabled():
        # Training with batch statistics (--bn batch); the running ones stay as they are
        # and are re-estimated after training.
        return [F.batch_norm(x[0], None, None, x[1], x[2], training=True, eps=a.get("epsilon", 1e-5))]
    return [F.batch_norm(x[0], x[3], x[4], x[1], x[2], training=False, eps=a.get("epsilon", 1e-5))]


def _relu(m, i, a, x):
    key = m.block_of.get(i)
    if key is not None and m.use_blocks:
        return [m.block_relus[key](x[0])]
    return [F.relu(x[0])]


def _clip(m, i, a, x):
    low, high = m.clip_bounds[i]
    if low == -math.inf and high == math.inf:
        return [x[0]]
    return [torch.clamp(x[0], None if low == -math.inf else low, None if high == math.inf else high)]


def _gemm(m, i, a, x):
    A, B = x[0], x[1]
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    y = a.get("alpha", 1.0) * (A @ B)
    if len(x) > 2 and x[2] is not None:
        y = y + a.get("beta", 1.0) * x[2]
    return [y]


def _axes(m, a, x, slot, attribute_before):
    if m.opset < attribute_before:
        return a.get("axes")
    if len(x) > slot and x[slot] is not None:
        return ints_of(x[slot])
    return None


def _reduce_mean(m, i, a, x):
    axes = _axes(m, a, x, 1, 18)
    keep = bool(a.get("keepdims", 1))
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return [x[0]]
        axes = list(range(x[0].dim()))
    return [x[0].mean(dim=axes, keepdim=keep)]


def _reshape(m, i, a, x):
    shape = ints_of(x[1])
    if m.static_batch1 and shape and shape[0] == 1 and m.batch and x[0].dim() >= 1 and x[0].shape[0] == m.batch:
        shape[0] = m.batch
    if not a.get("allowzero", 0):
        shape = [x[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
    return [x[0].reshape(shape)]


def _flatten(m, i, a, x):
    axis = a.get("axis", 1)
    if axis < 0:
        axis += x[0].dim()
    lead = int(np.prod(x[0].shape[:axis])) if axis else 1
    return [x[0].reshape(lead, -1)]


def _squeeze(m, i, a, x):
    axes = _axes(m, a, x, 1, 13)
    t = x[0]
    if axes is None:
        return [t.squeeze()]
    axes = sorted((ax + t.dim()) % t.dim() for ax in axes)
    for ax in reversed(axes):
        t = t.squeeze(ax)
    return [t]


def _unsqueeze(m, i, a, x):
    axes = _axes(m, a, x, 1, 13)
    t = x[0]
    rank = t.dim() + len(axes)
    for ax in sorted((ax + rank) % rank for ax in axes):
        t = t.unsqueeze(ax)
    return [t]


def _concat(m, i, a, x):
    parts = [t for t in x if t is not None and t.numel() > 0] or [x[0]]
    dtype = torch.float32 if any(t.is_floating_point() for t in parts) else parts[0].dtype
    return [torch.cat([t.to(dtype) for t in parts], dim=a["axis"])]


def _constant(m, i, a, x):
    for key in ("value", "sparse_value"):
        if key in a:
            return [to_torch(numpy_helper.to_array(a[key]))]
    for key, kind in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return [to_torch(np.array(a[key], dtype=kind))]
    raise Unsupported("a Constant without a numeric value")


def _constant_of_shape(m, i, a, x):
    value = to_torch(numpy_helper.to_array(a["value"])) if "value" in a else torch.zeros(1)
    return [value.reshape(-1)[0].expand(ints_of(x[0])).clone()]


def _shape(m, i, a, x):
    shape = list(x[0].shape)
    start, end = a.get("start", 0), a.get("end", len(shape))
    return [torch.tensor(shape[start:end], dtype=torch.int64)]


def _gather(m, i, a, x):
    data, indices = x[0], x[1].long()
    axis = a.get("axis", 0) % data.dim()
    size = data.shape[axis]
    flat = torch.where(indices < 0, indices + size, indices).reshape(-1)
    out = data.index_select(axis, flat)
    return [out.reshape(tuple(data.shape[:axis]) + tuple(indices.shape) + tuple(data.shape[axis + 1:]))]


def _slice(m, i, a, x):
    t = x[0]
    if m.opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = ints_of(x[1]), ints_of(x[2])
        axes = ints_of(x[3]) if len(x) > 3 and x[3] is not None else None
        steps = ints_of(x[4]) if len(x) > 4 and x[4] is not None else None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps or [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= t.dim()
        size = t.shape[axis]
        start = start + size if start < 0 else start
        end = end + size if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), size), min(max(end, 0), size)
        else:
            start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
        index = torch.arange(start, end, step, dtype=torch.long)
        t = t.index_select(axis, index)
    return [t]


def _cast(m, i, a, x):
    dtype = DTYPES.get(a["to"])
    if dtype is None:
        raise Unsupported(f"Cast to ONNX type {a['to']}")
    return [x[0].to(dtype)]


def _expand(m, i, a, x):
    shape = torch.broadcast_shapes(tuple(x[0].shape), tuple(ints_of(x[1])))
    return [x[0].expand(shape).clone()]


def _split(m, i, a, x):
    t, axis = x[0], a.get("axis", 0)
    outputs = len(m.nodes[i].output)
    if m.opset < 13:
        sizes = a.get("split")
    else:
        sizes = ints_of(x[1]) if len(x) > 1 and x[1] is not None else None
    if sizes is None:
        size = t.shape[axis]
        chunk = -(-size // outputs)
        sizes = [min(chunk, size - k * chunk) for k in range(outputs)]
    return list(torch.split(t, sizes, dim=axis))


def _pad(m, i, a, x):
    t = x[0]
    mode = a.get("mode", "constant")
    if m.opset < 11:
        pads, value, axes = a.get("pads", a.get("paddings")), a.get("value", 0.0), None
    else:
        pads = ints_of(x[1])
        value = float(x[2].reshape(-1)[0]) if len(x) > 2 and x[2] is not None and x[2].numel() else 0.0
        axes = ints_of(x[3]) if len(x) > 3 and x[3] is not None else None
    rank = t.dim()
    axes = [(ax + rank) % rank for ax in axes] if axes is not None else list(range(rank))
    begin, end = [0] * rank, [0] * rank
    for k, ax in enumerate(axes):
        begin[ax], end[ax] = pads[k], pads[k + len(axes)]
    torch_pads = []
    for ax in reversed(range(rank)):
        torch_pads += [begin[ax], end[ax]]
    while len(torch_pads) > 2 and torch_pads[-1] == torch_pads[-2] == 0:
        torch_pads = torch_pads[:-2]
    if mode == "constant":
        return [F.pad(t, torch_pads, value=value)]
    if mode in ("reflect", "edge"):
        return [F.pad(t, torch_pads, mode="reflect" if mode == "reflect" else "replicate")]
    raise Unsupported(f"Pad mode '{mode}'")


def _resize(m, i, a, x):
    t = x[0]
    node = m.nodes[i]
    legacy = node.op_type == "Upsample" or m.opset < 11
    scales = sizes = None
    if node.op_type == "Upsample" and m.opset < 9:
        scales = list(a["scales"])
    elif legacy:
        scales = floats_of(x[1])
    else:
        if len(x) > 2 and x[2] is not None and x[2].numel():
            scales = floats_of(x[2])
        if len(x) > 3 and x[3] is not None and x[3].numel():
            sizes = ints_of(x[3])
        if "axes" in a:
            axes = [(ax + t.dim()) % t.dim() for ax in a["axes"]]
            if scales is not None:
                full = [1.0] * t.dim()
                for k, ax in enumerate(axes):
                    full[ax] = scales[k]
                scales = full
            if sizes is not None:
                full = list(t.shape)
                for k, ax in enumerate(axes):
                    full[ax] = sizes[k]
                sizes = full
        if sizes is not None and a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Unsupported(f"Resize keep_aspect_ratio_policy '{a['keep_aspect_ratio_policy']}'")
    if sizes is None:
        sizes = [int(math.floor(np.float32(n) * np.float32(s))) for n, s in zip(t.shape, scales)]
        out_scales = scales
    else:
        out_scales = [float(np.float32(o) / np.float32(n)) for o, n in zip(sizes, t.shape)]
    if m.static_batch1 and len(sizes) >= 3 and sizes[0] == 1 and m.batch and t.shape[0] == m.batch:
        sizes = [m.batch] + list(sizes[1:])
    if list(sizes[:-2]) != list(t.shape[:-2]):
        raise Unsupported("Resize of axes other than the last two")
    mode = a.get("mode", "nearest")
    if mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"Resize mode '{mode}'")
    coordinates = "asymmetric" if legacy else a.get("coordinate_transformation_mode", "half_pixel")
    nearest = "legacy" if legacy else a.get("nearest_mode", "round_prefer_floor")
    rows = resize_matrix(mode, coordinates, nearest, t.shape[-2], sizes[-2], out_scales[-2])
    cols = resize_matrix(mode, coordinates, nearest, t.shape[-1], sizes[-1], out_scales[-1])
    return [torch.einsum("...hw,oh,pw->...op", t, rows, cols)]


def _transpose(m, i, a, x):
    perm = a.get("perm", list(reversed(range(x[0].dim()))))
    return [x[0].permute(perm)]


def _softmax(m, i, a, x):
    t = x[0]
    axis = a.get("axis", 1 if m.opset < 13 else -1) % t.dim()
    if m.opset >= 13 or axis == t.dim() - 1:
        return [torch.softmax(t, dim=axis)]
    shape = t.shape
    return [torch.softmax(t.reshape(int(np.prod(shape[:axis])), -1), dim=1).reshape(shape)]


def _argmax(m, i, a, x):
    t = x[0]
    axis = a.get("axis", 0) % t.dim()
    if a.get("select_last_index", 0):
        out = t.shape[axis] - 1 - torch.argmax(t.flip(axis), dim=axis, keepdim=True)
    else:
        out = torch.argmax(t, dim=axis, keepdim=True)
    return [out if a.get("keepdims", 1) else out.squeeze(axis)]


def _dropout(m, i, a, x):
    outs = [x[0]]
    if len(m.nodes[i].output) > 1 and m.nodes[i].output[1]:
        outs.append(torch.ones(x[0].shape, dtype=torch.bool))
    return outs


def _variadic(fn):
    def run(m, i, a, x):
        out = x[0]
        for t in x[1:]:
            out = fn(out, t)
        return [out]
    return run


OPS = {
    "Conv": _conv, "BatchNormalization": _batchnorm, "Relu": _relu, "Relu6": _clip, "Clip": _clip,
    "MaxPool": lambda m, i, a, x: [pool2d(x[0], a, True, False)],
    "AvgPoolFromMax": lambda m, i, a, x: [pool2d(x[0], a, False, True)],
    "AveragePool": lambda m, i, a, x: [pool2d(x[0], a, False, bool(a.get("count_include_pad", 0)))],
    "GlobalAveragePool": lambda m, i, a, x: [x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True)],
    "GlobalMaxPool": lambda m, i, a, x: [x[0].amax(dim=tuple(range(2, x[0].dim())), keepdim=True)],
    "ReduceMean": _reduce_mean,
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul), "Div": _binary(_div),
    "Sum": _variadic(torch.add), "Min": _variadic(torch.minimum), "Max": _variadic(torch.maximum),
    "Equal": _binary(torch.eq), "Less": _binary(torch.lt), "Greater": _binary(torch.gt),
    "Where": lambda m, i, a, x: [torch.where(x[0].bool(), x[1], x[2])],
    "Floor": lambda m, i, a, x: [torch.floor(x[0])], "Ceil": lambda m, i, a, x: [torch.ceil(x[0])],
    "Neg": lambda m, i, a, x: [-x[0]], "Sqrt": lambda m, i, a, x: [torch.sqrt(x[0])],
    "Concat": _concat, "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Gemm": _gemm, "MatMul": lambda m, i, a, x: [torch.matmul(x[0], x[1])],
    "Identity": lambda m, i, a, x: [x[0]], "Dropout": _dropout,
    "Constant": _constant, "ConstantOfShape": _constant_of_shape, "Shape": _shape, "Gather": _gather,
    "Slice": _slice, "Cast": _cast, "Expand": _expand,
    "Range": lambda m, i, a, x: [torch.arange(x[0].item(), x[1].item(), x[2].item(), dtype=x[0].dtype)],
    "Split": _split, "Pad": _pad, "Resize": _resize, "Upsample": _resize, "Transpose": _transpose,
    "Softmax": _softmax, "ArgMax": _argmax,
}


# ---------------------------------------------------------------- export


def export(module, path):
    """The original graph with the tuned initializers and the rewrites applied; returns
    the ModelProto written."""
    model = copy.deepcopy(module.model)
    graph = model.graph
    tuned = {name: p.detach().numpy() for name, p in zip(module.param_names, module.params)}
    tuned.update({name: module.constants[name].numpy() for name in module.updated_constants})
    for t in graph.initializer:
        if t.name in tuned:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
            fresh = numpy_helper.from_array(tuned[t.name].astype(dtype), t.name)
            t.CopyFrom(fresh)
    used_before = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    new_nodes = []
    for index, node in enumerate(graph.node):
        kind = module.kinds[index]
        if node.op_type == "Clip" and kind == "Relu":
            node = helper.make_node("Relu", [node.input[0]], [node.output[0]], name=node.name)
        elif kind == "AvgPoolFromMax":
            a = module.attrs[index]
            if list(a.get("dilations", [1, 1])) != [1, 1]:
                raise Unsupported(f"rewriting the dilated MaxPool '{node.name}' to AveragePool")
            keep = {k: v for k, v in a.items() if k in ("auto_pad", "kernel_shape", "pads", "strides", "ceil_mode")}
            node = helper.make_node("AveragePool", [node.input[0]], [node.output[0]], name=node.name, count_include_pad=1, **keep)
        elif node.op_type == "GlobalMaxPool" and kind == "GlobalAveragePool":
            node = helper.make_node("GlobalAveragePool", [node.input[0]], [node.output[0]], name=node.name)
        new_nodes.append(node)
    # Drop what only the rewritten nodes used (Clip bounds): nodes and initializers that
    # were referenced before and are not now.
    while True:
        used = {i for n in new_nodes for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in new_nodes if all(o not in used for o in n.output) and any(o in used_before for o in n.output)]
        if not dead:
            break
        new_nodes = [n for n in new_nodes if n not in dead]
    used = {i for n in new_nodes for i in n.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(new_nodes)
    keep_init = [t for t in graph.initializer if t.name in used or t.name not in used_before]
    if len(keep_init) != len(graph.initializer):
        dropped = {t.name for t in graph.initializer} - {t.name for t in keep_init}
        del graph.initializer[:]
        graph.initializer.extend(keep_init)
        inputs = [i for i in graph.input if i.name not in dropped]  # IR < 4 lists initializers as inputs
        del graph.input[:]
        graph.input.extend(inputs)
    onnx.checker.check_model(model)
    if model.ByteSize() > 1_800_000_000:
        onnx.save(model, path, save_as_external_data=True, location=os.path.basename(path) + ".data")
    else:
        onnx.save(model, path)
    return model


# ---------------------------------------------------------------- training


def recalibrate_batchnorm(module, x, batch=256, log=print):
    """Re-estimates every BatchNormalization's running mean and variance on `x`, under
    the rewrites and block ReLUs, in graph order: each BN's statistics are measured with
    the ones before it already updated (in one pass when `x` fits one batch, else one
    pass per BN, stopping at it). The new statistics are written back on export. A BN
    whose statistics are not its own initializers keeps them."""
    uses = {}
    for node in module.nodes:
        for name in node.input:
            uses[module.source(name)] = uses.get(module.source(name), 0) + 1
    targets = {}
    for index in module.dynamic:
        node = module.nodes[index]
        if node.op_type != "BatchNormalization":
            continue
        sources = [module.source(node.input[k]) for k in (3, 4)]
        if any(name not in module.initializer_dtypes or name in module.param_index or uses.get(name, 0) != 1 for name in sources):
            log(f"note: BatchNormalization '{node.name}' keeps its statistics (they are shared or computed)")
            continue
        targets[index] = sources

    def store(index, mean, var):
        node = module.nodes[index]
        for slot, name, value in ((3, targets[index][0], mean), (4, targets[index][1], var)):
            module.constants[name] = value.float()
            module.constants[node.input[slot]] = value.float()
            module.updated_constants.add(name)

    with torch.no_grad():
        if len(x) <= batch:
            module.recalibrate = lambda index, v: store(index, *moments(v)) if index in targets else None
            try:
                module(torch.from_numpy(x))
            finally:
                module.recalibrate = None
            return len(targets)
        for index in targets:
            node = module.nodes[index]
            total, total_sq, count = 0.0, 0.0, 0
            for start in range(0, len(x), batch):
                v = module(torch.from_numpy(x[start:start + batch]), outputs=[node.input[0]]).double()
                dims = [0] + list(range(2, v.dim()))
                total = total + v.sum(dim=dims)
                total_sq = total_sq + (v * v).sum(dim=dims)
                count += v.numel() // v.shape[1]
            mean = total / count
            store(index, mean, (total_sq / count - mean * mean).clamp(min=0))
    return len(targets)


def moments(v):
    """Per-channel mean and (biased) variance of [N, C, ...] in float64."""
    v = v.double()
    dims = [0] + list(range(2, v.dim()))
    mean = v.mean(dim=dims)
    return mean, ((v * v).mean(dim=dims) - mean * mean).clamp(min=0)


def shift_batch(x, max_shift, generator):
    """Random shifts of up to max_shift pixels per image (zero fill)."""
    n, _, h, w = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    out = torch.empty_like(x)
    for k in range(n):
        dy, dx = int(shifts[k, 0]), int(shifts[k, 1])
        out[k] = padded[k, :, max_shift + dy:max_shift + dy + h, max_shift + dx:max_shift + dx + w]
    return out


def predict(module, x, batch=256, outputs=None):
    chunks = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            chunks.append(module(torch.from_numpy(x[start:start + batch]), outputs=outputs))
    return torch.cat(chunks).numpy()


def accuracy_of(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def train(module, x, y, epochs, lr, batch, optimizer="adam", weight_decay=0.0, seed=0, shift=0, val=None, log=print,
          teacher=None, distill=0.0, temperature=4.0, batch_statistics=False):
    """Fine-tunes `module` in place. With a teacher and distill > 0 the loss is
    (1 - distill) * cross-entropy + distill * T^2 * KL(teacher || student) at temperature
    T (the teacher sees the same, possibly shifted, batch)."""
    if epochs <= 0:
        return
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    logits_name = module.logits_name()
    teacher_logits = teacher.logits_name() if teacher is not None else None
    params = list(module.parameters())
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer '{optimizer}'")
    steps = epochs * math.ceil(len(x) / batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    module.eval()  # BatchNorm on running statistics; Dropout is the identity anyway
    for epoch in range(1, epochs + 1):
        start = time.time()
        order = torch.randperm(len(x), generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        for first in range(0, len(x), batch):
            index = order[first:first + batch]
            xb, yb = xt[index], yt[index]
            if shift:
                xb = shift_batch(xb, shift, generator)
            module.batch_statistics = batch_statistics
            try:
                logits = module(xb, outputs=[logits_name])
            finally:
                module.batch_statistics = False
            loss = F.cross_entropy(logits, yb)
            if teacher is not None and distill > 0:
                with torch.no_grad():
                    target = teacher(xb, outputs=[teacher_logits])
                soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.log_softmax(target / temperature, dim=1),
                                reduction="batchmean", log_target=True) * temperature ** 2
                loss = (1 - distill) * loss + distill * soft
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(dim=1) == yb).sum())
            seen += yb.numel()
        line = f"epoch {epoch}/{epochs}: loss {total_loss / len(x):.4f}, training accuracy {correct / seen:.4f} ({time.time() - start:.1f} s)"
        if val is not None:
            line += f", held-out accuracy {accuracy_of(predict(module, val[0], outputs=[logits_name]), val[1]):.4f}"
        log(line)


# ---------------------------------------------------------------- checks


def find_mpcc(explicit=None):
    if explicit:
        return explicit
    for candidate in (os.path.join(MODELS, "..", ".build", "release", "mpcc"), "/work/main/.build/release/mpcc"):
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return "mpcc"


def check_against_mpcc(model_path, spec, inputs, labels=None, keep_maxpool=False, keep_relu6=False, mpcc=None, log=print):
    """Runs the torch module (block ReLUs from `spec`) and `mpcc --infer` on the same
    inputs; reports top-1 agreement, the largest output difference and both accuracies."""
    mpcc = find_mpcc(mpcc)
    model = onnx.load(model_path)
    plan = load_plan(spec) if spec else None
    module = OnnxModule(model, plan, keep_maxpool=keep_maxpool, keep_relu6=keep_relu6, trainable=False)
    x = np.load(inputs).astype(np.float32)
    ours = predict(module, x)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.npy")
        cmd = [mpcc, model_path, "--infer", inputs, "-o", out] + (["--spec", spec] if spec else []) + \
              (["--keep-maxpool"] if keep_maxpool else []) + (["--keep-relu6"] if keep_relu6 else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
        theirs = np.load(out)
    result = {"max_abs_diff": float(np.abs(ours - theirs).max()), "n": len(x)}
    if ours.ndim >= 2 and ours.shape == theirs.shape:
        result["top1_agreement"] = float((ours.argmax(axis=1) == theirs.argmax(axis=1)).mean())
    else:
        result["top1_agreement"] = float(np.array_equal(ours, theirs))
    line = f"torch vs mpcc --infer on {len(x)} inputs: top-1 agreement {result['top1_agreement']:.4f}, max |logit diff| {result['max_abs_diff']:.2e}"
    if labels:
        y = np.load(labels)
        result["torch_accuracy"] = accuracy_of(ours, y)
        result["mpcc_accuracy"] = accuracy_of(theirs, y)
        line += f"; accuracy torch {result['torch_accuracy']:.4f}, mpcc {result['mpcc_accuracy']:.4f}"
    log(line)
    return result


def self_test():
    """The interpreter (no rewrites, no plan) against onnxruntime's output.npy of every
    fixture under Models/; then, on the fixtures with ReLUs, the export round trip."""
    failures, skipped = 0, 0
    folders = sorted(glob.glob(os.path.join(MODELS, "*", "model.onnx")) + glob.glob(os.path.join(MODELS, "ops", "*", "model.onnx")))
    for path in folders:
        folder = os.path.dirname(path)
        rel = os.path.relpath(folder, MODELS)
        if not os.path.exists(os.path.join(folder, "output.npy")):
            continue
        x = np.load(os.path.join(folder, "input.npy"))
        expected = np.load(os.path.join(folder, "output.npy"))
        try:
            module = OnnxModule(onnx.load(path), keep_maxpool=True, keep_relu6=True)
            with torch.no_grad():
                got = module(to_torch(x)).numpy()
        except Unsupported as error:
            print(f"skip  {rel}: {error}")
            skipped += 1
            continue
        except Exception as error:  # noqa: BLE001
            print(f"FAIL  {rel}: {type(error).__name__}: {error}")
            failures += 1
            continue
        if got.shape != expected.shape:
            print(f"FAIL  {rel}: shape {got.shape} vs {expected.shape}")
            failures += 1
            continue
        if expected.dtype.kind in "iu":
            ok, what = np.array_equal(got, expected), "equal" if np.array_equal(got, expected) else "differ"
        else:
            diff = float(np.abs(got - expected).max()) if got.size else 0.0
            scale = max(1.0, float(np.abs(expected).max()) if expected.size else 1.0)
            ok, what = diff <= 1e-4 * scale, f"max |diff| {diff:.1e}"
        print(f"{'ok' if ok else 'FAIL'}  {rel}: {what}")
        failures += not ok
    print("self-test passed" if failures == 0 else f"self-test: {failures} failure(s)", f"({skipped} skipped as unsupported)")
    return failures == 0


def verify_export(module, path, x):
    """onnxruntime on the exported model against the module with plain ReLUs."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    module.use_blocks = False
    try:
        ours = predict(module, x)
    finally:
        module.use_blocks = True
    first = session.get_inputs()[0]
    step = 1 if first.shape and first.shape[0] == 1 else 256  # a graph for one image: one at a time
    theirs = np.concatenate([session.run(None, {first.name: x[s:s + step]})[0] for s in range(0, len(x), step)])
    return float(np.abs(ours - theirs).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="the trained ONNX model")
    parser.add_argument("--spec", help="block-size plan (JSON from mpcc --emit spec); without it only the rewrites apply")
    parser.add_argument("--train-x", help="float32 .npy training inputs, N x C x H x W")
    parser.add_argument("--train-y", help="int64 .npy labels (N, or N x H x W for per-pixel outputs)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3 with adam, 1e-2 with sgd), cosine decay to 0")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--bn", choices=["batch", "eval", "recalibrate"], default="batch",
                        help="BatchNorm: batch = batch statistics while training, running statistics re-estimated on the "
                             "training inputs afterwards (default); eval = the model's running statistics throughout, only the "
                             "affine weights train; recalibrate = running statistics re-estimated before and after training, "
                             "eval mode in between")
    parser.add_argument("--distill", type=float, default=0.0, metavar="A",
                        help="weight of distillation from the original network (no rewrites, no plan): loss = (1 - A) * "
                             "cross-entropy + A * T^2 * KL (default 0: cross-entropy only)")
    parser.add_argument("--temperature", type=float, default=4.0, help="distillation temperature T")
    parser.add_argument("--shift", type=int, default=0, help="random shifts of up to this many pixels (augmentation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-maxpool", action="store_true", help="keep MaxPool (as mpcc --keep-maxpool)")
    parser.add_argument("--keep-relu6", action="store_true", help="keep ReLU6 (as mpcc --keep-relu6)")
    parser.add_argument("--val-x", help="optional held-out inputs: their accuracy is printed after each epoch (not used for training)")
    parser.add_argument("--val-y")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("-o", "--output", help="the fine-tuned ONNX model to write")
    parser.add_argument("--self-test", action="store_true", help="check the interpreter on the fixtures under Models/")
    args = parser.parse_args()
    if args.self_test:
        sys.exit(0 if self_test() else 1)
    if not (args.model and args.train_x and args.train_y and args.output):
        parser.error("MODEL.onnx, --train-x, --train-y and -o are required")
    if args.threads:
        torch.set_num_threads(args.threads)
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    try:
        model = onnx.load(args.model)
        plan = load_plan(args.spec) if args.spec else None
        module = OnnxModule(model, plan, keep_maxpool=args.keep_maxpool, keep_relu6=args.keep_relu6)
        teacher = OnnxModule(model, keep_maxpool=True, keep_relu6=True, trainable=False) if args.distill > 0 else None
        x = np.load(args.train_x).astype(np.float32)
        y = np.load(args.train_y).astype(np.int64)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} training inputs but {len(y)} labels")
        val = (np.load(args.val_x).astype(np.float32), np.load(args.val_y).astype(np.int64)) if args.val_x else None
        planned = len(module.block_relus)
        rewrites = ", ".join(f"{n} {k}" for k, n in module.rewritten.items() if n) or "none"
        print(f"{args.model}: {len(module.nodes)} nodes ({len(module.dynamic)} at run time), {sum(p.numel() for p in module.params)} "
              f"trainable values in {len(module.params)} tensors; rewrites: {rewrites}; {planned} of {len(module.relu_outputs)} "
              f"ReLU layers planned")
        logits_name = module.logits_name()

        def report(when):
            line = f"{when}: training accuracy {accuracy_of(predict(module, x, outputs=[logits_name]), y):.4f}"
            if val is not None:
                line += f", held-out accuracy {accuracy_of(predict(module, val[0], outputs=[logits_name]), val[1]):.4f}"
            print(line)

        report("before fine-tuning")
        start = time.time()
        if args.bn == "recalibrate":
            print(f"re-estimated the statistics of {recalibrate_batchnorm(module, x)} BatchNorm layers")
            report("after re-estimating BatchNorm statistics")
        train(module, x, y, args.epochs, lr, args.batch, args.optimizer, args.weight_decay, args.seed, args.shift, val,
              teacher=teacher, distill=args.distill, temperature=args.temperature, batch_statistics=args.bn == "batch")
        if args.bn in ("batch", "recalibrate"):
            print(f"re-estimated the statistics of {recalibrate_batchnorm(module, x)} BatchNorm layers on the training inputs")
        print(f"fine-tuned {args.epochs} epochs in {time.time() - start:.1f} s")
        report("after fine-tuning")
        exported = export(module, args.output)
    except (Unsupported, ValueError, OSError) as error:
        sys.exit(f"finetune.py: {error}")
    relu_outputs = {n.output[0] for n in exported.graph.node if n.op_type == "Relu"}
    missing = [name for name in (plan or {}) if name not in relu_outputs]
    if missing:
        sys.exit(f"finetune.py: the exported graph lost the plan's ReLU outputs {missing}")
    diff = verify_export(module, args.output, x[:64])
    print(f"wrote {args.output}: onnxruntime vs torch (plain ReLUs) max |diff| {diff:.1e} on {min(64, len(x))} training inputs; "
          f"all {len(plan or {})} planned ReLU outputs keep their names")


if __name__ == "__main__":
    main()
