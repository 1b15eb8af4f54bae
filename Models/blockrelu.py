#!/usr/bin/env python3
"""Block ReLU in PyTorch with exactly mpcc's semantics, for fine-tuning a network under a
block-size plan (`mpcc --emit spec`); Models/finetune.py uses it.

    python3 Models/blockrelu.py --self-test          # vectorized vs naive loops
    python3 Models/blockrelu.py --check MODEL.onnx --spec plan.json --inputs X.npy \
        [--labels Y.npy] [--keep-maxpool] [--keep-relu6] [--mpcc PATH]
                                                     # this module vs `mpcc --infer`

Semantics (README.md, Method; Sources/SharedKernels/BlockSize.swift): the input is
[N, C, H, W] and every channel has one block [bh, bw]. With both sides >= 1 it is a patch
size ([1, 1] is an ordinary ReLU): patches tile the map from the top left with stride
equal to the patch size, the last row and column of patches cut by the map's edge. Every
pixel of a patch is kept (passed unchanged) when the sum of the patch's input values is
> 0 (strictly) and zeroed otherwise. [0, 1] is the identity (the channel passes
unchanged) and [1, 0] zeroes the channel. The patch sum is accumulated in float32 row by
row from 0, the order mpcc uses, so keep/zero decisions agree bit for bit on the same
input (a patch whose sum rounds to exactly 0 is zeroed by both).

Gradient: straight-through, d out / d x = mask (1 at kept pixels, 0 at zeroed ones), the
mask treated as a constant; the same rule as mpcc's float backward pass.

Vectorized: one set of tensor operations per distinct block shape of a layer (channels
grouped by shape), a loop over the bh*bw positions of a patch only for the ordered sum.
Needs torch and numpy (and onnx, onnxruntime for --check, via finetune.py).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IDENTITY = (0, 1)
ZERO = (1, 0)


def _parse_block(pair, where):
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{where}: entry {pair!r} is not [height, width]")
    bh, bw = pair
    if not ((bh >= 1 and bw >= 1) or (bh, bw) in (IDENTITY, ZERO)):
        raise ValueError(f"{where}: invalid block size {list(pair)} (a patch needs both sides >= 1; [0, 1] is identity, [1, 0] zero)")
    return (bh, bw)


def load_plan(path):
    """Reads an `mpcc-block-plan` JSON (what `mpcc --emit spec` writes) and returns
    {ONNX name of the ReLU's output tensor: [(bh, bw), ...] one per channel}."""
    with open(path) as f:
        plan = json.load(f)
    if not isinstance(plan, dict) or not isinstance(plan.get("layers"), dict):
        raise ValueError(f"{path} is not a block-size plan (JSON with a \"layers\" object of [height, width] pairs)")
    if plan.get("format", "mpcc-block-plan") != "mpcc-block-plan":
        raise ValueError(f"{path} has format '{plan['format']}', expected mpcc-block-plan")
    if plan.get("version", 1) != 1:
        raise ValueError(f"{path} has version {plan['version']}; this reader knows version 1")
    return {name: [_parse_block(p, f"{path}: layer '{name}'") for p in pairs] for name, pairs in plan["layers"].items()}


def plan_drelus(blocks, height, width):
    """DReLUs per image of one layer under `blocks` (one per patch; identity, zero: none)."""
    return sum(math.ceil(height / bh) * math.ceil(width / bw) for bh, bw in blocks if bh >= 1 and bw >= 1)


def block_keep_mask(x, bh, bw):
    """Boolean mask [N, K, H, W] of the kept pixels of x [N, K, H, W] under one patch
    shape: each pixel takes its patch's decision (float32 sum in row-major order > 0)."""
    n, k, h, w = x.shape
    if bh == 1 and bw == 1:
        return x > 0
    hb, wb = -(-h // bh), -(-w // bw)
    xp = F.pad(x, (0, wb * bw - w, 0, hb * bh - h))  # zeros: adding +0.0 leaves a sum unchanged
    v = xp.reshape(n, k, hb, bh, wb, bw)
    # The ordered sum: sum = 0; for row: for column: sum += x (float32, like mpcc).
    s = v[:, :, :, 0, :, 0].clone()
    for r in range(bh):
        for c in range(bw):
            if r or c:
                s = s + v[:, :, :, r, :, c]
    keep = (s > 0)[:, :, :, None, :, None].expand(n, k, hb, bh, wb, bw)
    return keep.reshape(n, k, hb * bh, wb * bw)[:, :, :h, :w]


class _MaskedPass(torch.autograd.Function):
    """out = x where mask else 0; d out / d x = mask (straight-through, mask constant)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return torch.where(mask, grad, torch.zeros((), dtype=grad.dtype, device=grad.device)), None


class BlockReLU(nn.Module):
    """Block ReLU with one block [bh, bw] per channel (see the module docstring)."""

    def __init__(self, blocks, name=None):
        super().__init__()
        self.blocks = [_parse_block(tuple(b) if isinstance(b, list) else b, name or "BlockReLU") for b in blocks]
        self.name = name
        groups = {}
        for channel, block in enumerate(self.blocks):
            groups.setdefault(block, []).append(channel)
        self.groups = sorted(groups.items())  # [(block, [channels])], deterministic order
        self._indices = [torch.tensor(channels, dtype=torch.long) for _, channels in self.groups]
        # Channels in group order, and where each original channel lands in that order.
        order = [c for _, channels in self.groups for c in channels]
        self._inverse = torch.empty(len(order), dtype=torch.long)
        self._inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        self.all_relu = all(b == (1, 1) for b in self.blocks)

    def extra_repr(self):
        shapes = ", ".join(f"{'id' if b == IDENTITY else 'zero' if b == ZERO else f'{b[0]}x{b[1]}'}: {len(c)}" for b, c in self.groups)
        return f"channels={len(self.blocks)}, {shapes}"

    def mask(self, x):
        if x.dim() != 4 or x.shape[1] != len(self.blocks):
            raise ValueError(f"block ReLU {self.name or ''} has {len(self.blocks)} channels, got input of shape {list(x.shape)}")
        with torch.no_grad():
            if self.all_relu:
                return x > 0
            if len(self.groups) == 1:
                (block, _), = self.groups
                return self._group_mask(x, block)
            # One mask per shape group, concatenated in group order, then put back in
            # channel order by a single gather.
            parts = [self._group_mask(x.index_select(1, index.to(x.device)), block) for (block, _), index in zip(self.groups, self._indices)]
            return torch.cat(parts, dim=1).index_select(1, self._inverse.to(x.device))

    @staticmethod
    def _group_mask(x, block):
        if block == IDENTITY:
            return torch.ones(x.shape, dtype=torch.bool, device=x.device)
        if block == ZERO:
            return torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        return block_keep_mask(x, *block)

    def forward(self, x):
        return _MaskedPass.apply(x, self.mask(x))


# ---------------------------------------------------------------- naive reference


def naive_block_relu(x, blocks):
    """Pixel loops over a numpy float32 [N, C, H, W] array: the reference for the test."""
    x = np.asarray(x, dtype=np.float32)
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    mask = np.zeros(x.shape, dtype=bool)
    for i in range(n):
        for ch in range(c):
            bh, bw = blocks[ch]
            if (bh, bw) == IDENTITY:
                mask[i, ch] = True
                continue
            if (bh, bw) == ZERO:
                continue
            for top in range(0, h, bh):
                for left in range(0, w, bw):
                    s = np.float32(0)
                    for r in range(top, min(top + bh, h)):
                        for col in range(left, min(left + bw, w)):
                            s = np.float32(s + x[i, ch, r, col])
                    if s > 0:
                        mask[i, ch, top:top + bh, left:left + bw] = True
    out[mask] = x[mask]
    return out, mask


def self_test():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    palette = [(2, 3), (4, 4), (1, 5), IDENTITY, ZERO, (1, 1), (3, 1), (7, 9), (8, 10), (5, 2)]
    cases = [((3, 10, 7, 9), palette), ((2, 6, 11, 5), palette[:6]), ((1, 4, 1, 1), [(2, 2), (1, 1), IDENTITY, ZERO]),
             ((2, 5, 6, 13), [(4, 4)] * 5), ((2, 3, 9, 7), [(1, 1)] * 3)]
    failures = 0
    for shape, choices in cases:
        for trial in range(3):
            blocks = [choices[(i + trial) % len(choices)] for i in range(shape[1])]
            x = rng.standard_normal(shape).astype(np.float32)
            if trial == 2:
                x = np.round(x * 2) / 2  # many exact zeros and ties: sums of exactly 0 are zeroed
            expected, expected_mask = naive_block_relu(x, blocks)
            module = BlockReLU(blocks)
            xt = torch.tensor(x, requires_grad=True)
            out = module(xt)
            weights = torch.tensor(rng.standard_normal(shape).astype(np.float32))
            (out * weights).sum().backward()
            ok_forward = np.array_equal(out.detach().numpy(), expected)
            ok_grad = np.array_equal(xt.grad.numpy(), np.where(expected_mask, weights.numpy(), 0))
            kept = expected_mask.mean()
            status = "ok" if ok_forward and ok_grad else "FAIL"
            failures += status != "ok"
            print(f"{status}  x {list(shape)}  blocks {sorted(set(blocks))}  kept {kept:.3f}  forward {'equal' if ok_forward else 'DIFFERS'}  gradient {'equal' if ok_grad else 'DIFFERS'}")
    # A plan file round trip.
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"format": "mpcc-block-plan", "version": 1, "layers": {"a": [[2, 3], [0, 1], [1, 0]]}}, f)
    plan = load_plan(f.name)
    os.unlink(f.name)
    ok_plan = plan == {"a": [(2, 3), IDENTITY, ZERO]} and plan_drelus(plan["a"], 7, 9) == 12
    failures += not ok_plan
    print(f"{'ok' if ok_plan else 'FAIL'}  plan JSON round trip, DReLU count")
    print("self-test passed" if failures == 0 else f"self-test: {failures} failure(s)")
    return failures == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true", help="compare with naive loops on random tensors")
    parser.add_argument("--check", metavar="MODEL.onnx", help="compare the torch model under --spec with `mpcc --infer`")
    parser.add_argument("--spec", help="block-size plan (JSON from mpcc --emit spec)")
    parser.add_argument("--inputs", help="float32 .npy inputs for --check")
    parser.add_argument("--labels", help="int64 .npy labels for --check (reports both accuracies)")
    parser.add_argument("--keep-maxpool", action="store_true")
    parser.add_argument("--keep-relu6", action="store_true")
    parser.add_argument("--mpcc", default=None, help="mpcc binary (default: .build/release/mpcc of this checkout, else of /work/main, else PATH)")
    args = parser.parse_args()
    if args.self_test:
        sys.exit(0 if self_test() else 1)
    if args.check:
        if not args.inputs:
            parser.error("--check needs --inputs")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import finetune
        result = finetune.check_against_mpcc(args.check, args.spec, args.inputs, labels=args.labels, keep_maxpool=args.keep_maxpool,
                                             keep_relu6=args.keep_relu6, mpcc=args.mpcc)
        sys.exit(0 if result["top1_agreement"] == 1.0 else 1)
    parser.print_help()


if __name__ == "__main__":
    main()
