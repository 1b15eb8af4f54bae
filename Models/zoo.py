#!/usr/bin/env python3
"""Conformance run over the torchvision model zoo: export, import, compile, emulate, 3PC.

Opt in (needs torch and torchvision; `make test` does not run it). For each model:
random seeded weights (He-normal convs) with BatchNorm statistics calibrated on random
batches (as Models/export_large.py does), exported with the legacy exporter at opset 17
in eval mode (what `torch.onnx.export(model, x)` gives a user), then:

  1. `mpcc NAME.onnx --keep-maxpool --keep-relu6 [--approx-sigmoid] --infer X.npy`:
     the float engine against onnxruntime (the original function is kept);
  2. `mpcc NAME.onnx ... -o NAME.mpcb` and `mpcr emulate`: the fixed-point program's
     output against onnxruntime;
  3. `mpcr local` (three processes on encrypted loopback TCP) for programs whose
     predicted bytes per inference stay under --local-max-mb: parties against the
     emulator, measured bytes against predicted.

Errors are relative to the output scale (max |onnxruntime output|); "argmax" is the
share of inputs (classification) or pixels (segmentation) whose top class equals
onnxruntime's. Models with Sigmoid (SiLU, sigmoid-gated squeeze-excite) compile with
--approx-sigmoid, so their float function is the approximation's; the fixed-point
output is also compared with the float engine (running the same function).

    python3 Models/zoo.py                       # every model, into /tmp/mpcc-zoo
    python3 Models/zoo.py --only resnet18 efficientnet_b0
    python3 Models/zoo.py --table               # print OUT/zoo.json again

Writes OUT/zoo.json (one row per model) and prints a Markdown table. Needs the release
build (`swift build -c release`). The torchvision wheel here was built for CUDA: its
fake-op registrations are skipped before import (see `import_torchvision`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

sys.dont_write_bytecode = True  # no Models/__pycache__ from importing siblings
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_large import init_and_calibrate  # noqa: E402
from four_settings import record, tool_arguments  # noqa: E402
from generate import ort_run, save_npy, seed_for, strip_metadata  # noqa: E402

# name: (constructor keyword arguments, input side, kind)
CLASSIFICATION = {
    "resnet18": ({}, 64), "resnet50": ({}, 64), "resnext50_32x4d": ({}, 64),
    "wide_resnet50_2": ({}, 64), "densenet121": ({}, 64),
    "googlenet": ({"aux_logits": False, "init_weights": False}, 64),
    "inception_v3": ({"aux_logits": False, "init_weights": False}, 96),
    "mnasnet0_5": ({}, 64), "mnasnet1_0": ({}, 64),
    "regnet_x_400mf": ({}, 64), "regnet_y_400mf": ({}, 64),
    "shufflenet_v2_x0_5": ({}, 64), "shufflenet_v2_x1_0": ({}, 64),
    "squeezenet1_0": ({}, 64), "squeezenet1_1": ({}, 64),
    "mobilenet_v2": ({}, 64), "mobilenet_v3_small": ({}, 64), "mobilenet_v3_large": ({}, 64),
    "efficientnet_b0": ({}, 64),
    # LayerNorm and GELU: expected to be rejected, with the message a user would get
    "convnext_tiny": ({}, 64),
}
SEGMENTATION = {
    "fcn_resnet50": ({"weights_backbone": None}, 64),
    "deeplabv3_resnet50": ({"weights_backbone": None}, 64),
    "deeplabv3_mobilenet_v3_large": ({"weights_backbone": None}, 64),
    "lraspp_mobilenet_v3_large": ({"weights_backbone": None}, 64),
}
MODELS = list(CLASSIFICATION) + list(SEGMENTATION)


def import_torchvision():
    """torchvision registers fake kernels for its CUDA ops at import; this CPU torch
    refuses them, so those registrations become no-ops (nothing here uses the ops)."""
    import torch

    original = torch.library.register_fake

    def register_fake(name, *args, **kwargs):
        if isinstance(name, str) and name.startswith("torchvision::"):
            return lambda function: function
        return original(name, *args, **kwargs)

    torch.library.register_fake = register_fake
    import torchvision
    return torch, torchvision


def build(name, torch, torchvision):
    if name in SEGMENTATION:
        kwargs, side = SEGMENTATION[name]
        inner = getattr(torchvision.models.segmentation, name)(weights=None, num_classes=21, **kwargs)

        class Out(torch.nn.Module):
            """Segmentation models return a dict; the exported graph's output is 'out'."""

            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model(x)["out"]

        return Out(inner), side
    kwargs, side = CLASSIFICATION[name]
    return getattr(torchvision.models, name)(weights=None, **kwargs), side


def export(name, out, inputs, torch, torchvision):
    torch.manual_seed(seed_for("zoo/" + name))
    model, side = build(name, torch, torchvision)
    shape = (inputs, 3, side, side)
    init_and_calibrate(model, "zoo/" + name, shape, 8)
    x = np.random.default_rng(seed_for("zoo/" + name)).standard_normal(shape).astype(np.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
    m = onnx.load_from_string(buffer.getvalue())
    strip_metadata(m)
    path = out / f"{name}.onnx"
    onnx.save_model(m, str(path))
    save_npy(out / f"{name}_input.npy", x)
    (y,) = ort_run(path, {"input": x})
    save_npy(out / f"{name}_output.npy", y)
    ops = sorted({n.op_type for n in m.graph.node})
    return path, x, y, ops, sum(p.numel() for p in model.parameters())


def run(cmd, timeout):
    start = time.monotonic()
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s", timeout
    return result.returncode, result.stdout, result.stderr, time.monotonic() - start


def compare(reference, value, segmentation):
    """Max |difference| relative to the output scale, and the argmax agreement."""
    scale = float(np.abs(reference).max()) or 1.0
    error = float(np.abs(value.astype(np.float64) - reference).max()) / scale
    agree = float(np.mean(value.argmax(1) == reference.argmax(1)))
    return error, agree


def first_error(stderr):
    lines = [line for line in stderr.splitlines() if "error" in line]
    return (lines[0] if lines else stderr.strip().splitlines()[-1] if stderr.strip() else "failed")[:600]


def check(name, a, torch, torchvision):
    out = Path(a.out)
    row = {"model": name, "kind": "segmentation" if name in SEGMENTATION else "classification"}
    start = time.monotonic()
    path, x, y, ops, params = export(name, out, a.inputs, torch, torchvision)
    row.update(export_seconds=time.monotonic() - start, params=params, input=list(x.shape), output=list(y.shape))
    options = ["--keep-maxpool", "--keep-relu6"] + (["--approx-sigmoid"] if "Sigmoid" in ops else [])
    row["options"] = options
    inputs, segmentation = str(out / f"{name}_input.npy"), row["kind"] == "segmentation"
    code, _, stderr, _ = run([a.mpcc, str(path), *options, "--infer", inputs, "-o", str(out / f"{name}_float.npy")], a.timeout)
    if code != 0:
        row["error"] = first_error(stderr)
        return row
    floats = np.load(out / f"{name}_float.npy")
    row["float_error"], row["float_argmax"] = compare(y, floats, segmentation)
    program = str(out / f"{name}.mpcb")
    code, stdout, stderr, row["compile_seconds"] = run([a.mpcc, str(path), *options, "-o", program], a.timeout)
    if code != 0:
        row["error"] = first_error(stderr)
        return row
    predicted = re.search(r"(\d+) DReLUs, (\d+) rounds, ([\d.]+) MB online \+ ([\d.]+) MB offline", stdout)
    row["drelus"], row["rounds"] = int(predicted.group(1)), int(predicted.group(2))
    row["predicted_mb"] = float(predicted.group(3)) + float(predicted.group(4))
    emulated_path = str(out / f"{name}_emu.npy")
    code, _, stderr, row["emulate_seconds"] = run([a.mpcr, "emulate", program, "--input", inputs, "--output", emulated_path], a.timeout)
    if code != 0:
        row["error"] = first_error(stderr)
        return row
    emulated = np.load(emulated_path)
    row["emulator_error"], row["emulator_argmax"] = compare(y, emulated, segmentation)
    row["emulator_vs_float_error"], _ = compare(floats, emulated, segmentation)
    if row["predicted_mb"] * a.inputs <= a.local_max_mb:
        local(row, a, program, inputs, emulated, segmentation)
    return row


def local(row, a, program, inputs, emulated, segmentation):
    secure_path, report_path = program.replace(".mpcb", "_3pc.npy"), program.replace(".mpcb", "_report.json")
    code, _, stderr, row["local_seconds"] = run(
        [a.mpcr, "local", program, "--input", inputs, "--output", secure_path, "--report", report_path, "--timeout", "600"], a.timeout)
    if code != 0:
        row["local_error"] = first_error(stderr)
        return
    report = json.load(open(report_path))
    row["bytes"], row["predicted_bytes"] = report["bytes_sent"], report["predicted_bytes"]
    row["parties_error"], row["parties_argmax"] = compare(emulated, np.load(secure_path), segmentation)


def markdown(rows):
    lines = ["| model | kind | input | options | float engine vs onnxruntime | emulator vs onnxruntime | emulator vs float engine | "
             "argmax as onnxruntime | DReLUs | rounds | 3PC (wall) | parties vs emulator | bytes = predicted |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        side = "x".join(str(d) for d in r["input"][1:])
        options = " ".join(o for o in r.get("options", []) if o == "--approx-sigmoid") or "-"
        if "error" in r:
            lines.append(f"| {r['model']} | {r['kind']} | {side} | {options} | rejected: {r['error'].replace('|', '/')} ||||||||")
            continue
        if "local_seconds" in r and "local_error" not in r:
            secure = f"{r['local_seconds']:.1f} s"
            parties = f"{r['parties_error']:.1e}, argmax {100 * r['parties_argmax']:.2f}%"
            same = "yes" if r["bytes"] == r["predicted_bytes"] else f"no ({r['bytes']} / {r['predicted_bytes']})"
        else:
            secure, parties, same = r.get("local_error", "not run"), "-", "-"
        lines.append(f"| {r['model']} | {r['kind']} | {side} | {options} | {r['float_error']:.1e} | {r['emulator_error']:.1e} | "
                     f"{r['emulator_vs_float_error']:.1e} | {100 * r['emulator_argmax']:.2f}% | {r['drelus']:,} | {r['rounds']} | {secure} | "
                     f"{parties} | {same} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=MODELS, choices=MODELS, metavar="MODEL")
    parser.add_argument("--inputs", type=int, default=2, help="seeded standard-normal inputs per model")
    parser.add_argument("--local-max-mb", type=float, default=3000, help="run mpcr local when the predicted bytes stay under this")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    tool_arguments(parser, "/tmp/mpcc-zoo", "zoo.json")
    a = parser.parse_args()
    table = Path(a.out) / "zoo.json"
    if a.table:
        print(markdown(json.load(open(table))))
        return
    os.makedirs(a.out, exist_ok=True)
    torch, torchvision = import_torchvision()
    torch.set_num_threads(1)
    record((check(name, a, torch, torchvision) for name in a.only), table, markdown)


if __name__ == "__main__":
    main()
