#!/usr/bin/env python3
"""The paper's four settings end to end (and MobileNetV2 classification): for each large
model exported by Models/export_large.py, compile it twice, run it through `mpcr emulate`
and `mpcr local` (three parties over encrypted loopback TCP), and report time, bytes,
rounds, peak memory per party and agreement:

  original  the model's own function (--keep-maxpool --keep-relu6), every ReLU exact:
            the parties against the emulator and against onnxruntime's output;
  budget    the default pipeline (max pooling -> average, ReLU6 -> ReLU) with block
            ReLUs planned under --budget (default 0.06; `fast` distortion on --samples
            seeded Gaussian calibration inputs, re-runs capped by --rerun-macs): the
            parties against the emulator.

Classifiers are compared by top-1, segmentation models (an output with a spatial map,
or labels from a final ArgMax) per pixel.

    python3 Models/export_large.py --only resnet18_cifar ...   # writes /tmp/mpcc-large
    python3 Models/four_settings.py --only resnet18_cifar deeplabv3_resnet50_labels
        [--budget 0.06] [--samples 8] [--rerun-macs 2e10] [--out /tmp/mpcc-settings] [--table]

Writes OUT/settings.json and prints a Markdown table. Needs numpy and the release
binaries (`swift build -c release`); nothing here is used by mpcc's build or tests.
"""
import argparse, json, os, re, subprocess, sys, time

import numpy as np

MODELS = ["resnet18_cifar", "resnet50", "mobilenet_v2", "deeplabv3_resnet50_labels", "deeplabv3_mobilenetv2_labels"]


def timed(cmd, log):
    """Runs cmd under /usr/bin/time; returns (stdout, wall seconds, peak RSS in MB)."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log.write(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}\n")
    log.flush()
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-2000:]}")
    peak_kb = int(result.stderr.strip().split("\n")[-1])
    return result.stdout, wall, peak_kb / 1024


def agreement(a, b, labels):
    """Top-1 (classifiers: argmax over the last axis of [N, classes]) or per-pixel labels
    (an output of labels, or argmax over axis 1 of [N, C, H, W] scores)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return None
    if not labels:
        a, b = a.argmax(1), b.argmax(1)
    return float((a.reshape(-1) == b.reshape(-1)).mean())


class Setting:
    def __init__(self, name, args, log):
        self.name, self.args, self.log = name, args, log
        self.path = lambda suffix: os.path.join(args.large, name + suffix)
        self.reference = np.load(self.path("_output.npy"))
        # Labels: an int64 output (a final ArgMax); otherwise scores over axis 1.
        self.labels = self.reference.dtype == np.int64

    def calibration(self):
        path = os.path.join(self.args.out, self.name + "_calibration.npy")
        shape = np.load(self.path("_input.npy")).shape[1:]
        rng = np.random.default_rng(20261201)
        np.save(path, rng.standard_normal((self.args.samples,) + shape).astype(np.float32))
        return path

    def run(self, variant):
        a, out = self.args, os.path.join(self.args.out, f"{self.name}_{variant}")
        model, given = self.path(".onnx"), self.path("_input.npy")
        row = {"model": self.name, "variant": variant}
        if variant == "original":
            options = ["--keep-maxpool", "--keep-relu6"]
        elif a.reuse_plans and os.path.exists(out + ".json"):
            # The plan of an earlier run (its planning time kept): re-measure the runtime only.
            calibration = self.calibration()
            earlier = [r for r in a.earlier if r["model"] == self.name and r["variant"] == variant]
            row.update({k: earlier[0][k] for k in ["plan_seconds", "plan_peak_mb"] if earlier and k in earlier[0]})
            options = ["--spec", out + ".json", "--calibration", calibration]
        else:
            calibration = self.calibration()
            _, row["plan_seconds"], row["plan_peak_mb"] = timed(
                [a.mpcc, model, "--budget", str(a.budget), "--calibration", calibration, "--distortion", "fast",
                 "--fast-samples", str(a.samples), "--fast-projections", str(a.projections), "--fast-rerun-macs", str(a.rerun_macs),
                 "--emit", "spec", "-o", out + ".json"], self.log)
            options = ["--spec", out + ".json", "--calibration", calibration]
        compiled, row["compile_seconds"], _ = timed([a.mpcc, model] + options + ["-o", out + ".mpcb"], self.log)
        predicted = re.search(r"predicted per inference: (\d+) DReLUs, (\d+) rounds", compiled)
        row["drelus"], row["predicted_rounds"] = int(predicted.group(1)), int(predicted.group(2))
        _, row["emulate_seconds"], row["emulate_peak_mb"] = timed([a.mpcr, "emulate", out + ".mpcb", "--input", given, "--output", out + "_emu.npy"], self.log)
        _, row["local_wall_seconds"], row["local_peak_mb"] = timed(
            [a.mpcr, "local", out + ".mpcb", "--input", given, "--output", out + "_3pc.npy", "--report", out + "_report.json", "--timeout", "600",
             "--preprocess", "0"], self.log)
        report = json.load(open(out + "_report.json"))
        row["online_seconds"] = report["client"]["online_seconds"]  # offline and online interleaved (--preprocess 0)
        row["bytes"], row["predicted_bytes"] = report["bytes_sent"], report["predicted_bytes"]
        # Once per session: the masked weights and the handshakes.
        row["session_bytes"] = sum(report[r]["session_bytes"] for r in ["client", "server", "helper"])
        row["rounds"] = max(report[r]["rounds"] for r in ["client", "server", "helper"])
        row["peak_rss_mb"] = {r: report[r]["peak_rss_bytes"] / 2**20 for r in ["client", "server", "helper"]}
        emulated, secure = np.load(out + "_emu.npy"), np.load(out + "_3pc.npy")
        row["parties_vs_emulator"] = agreement(emulated, secure, self.labels)
        if variant == "original":
            reference = self.reference.astype(np.float32) if self.labels else self.reference
            row["emulator_vs_onnxruntime"] = agreement(reference, emulated, self.labels)
            row["parties_vs_onnxruntime"] = agreement(reference, secure, self.labels)
        row["kind"] = "segmentation" if self.labels or self.reference.ndim == 4 else "classification"
        return row


def markdown(rows):
    lines = ["| model | variant | DReLUs | plan | 3PC inference (wall) | bytes per inference + per session | rounds | peak RSS C / S / H | parties = emulator | = onnxruntime |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = " / ".join(f"{r['peak_rss_mb'][k]:.0f}" for k in ["client", "server", "helper"])
        plan = f"{r['plan_seconds']:.0f} s" if "plan_seconds" in r else "-"
        ort = f"{100 * r['parties_vs_onnxruntime']:.3f}%" if r.get("parties_vs_onnxruntime") is not None else "-"
        lines.append(f"| {r['model']} | {r['variant']} | {r['drelus']:,} | {plan} | {r['online_seconds']:.2f} s ({r['local_wall_seconds']:.1f} s) | "
                     f"{(r['bytes'] - r['session_bytes']) / 1e6:,.1f} + {r['session_bytes'] / 1e6:,.1f} MB | {r['rounds']} | {peak} MB | {100 * r['parties_vs_emulator']:.3f}% | {ort} |")
    return "\n".join(lines)


def tool_arguments(parser, out, table):
    """The options every measuring script shares: the release binaries, the output
    directory and --table (reprint `table` from it)."""
    parser.add_argument("--mpcc", default=".build/release/mpcc")
    parser.add_argument("--mpcr", default=".build/release/mpcr")
    parser.add_argument("--out", default=out)
    parser.add_argument("--table", action="store_true", help=f"print the table of OUT/{table} again; run nothing")


def record(rows, table, markdown):
    """Collects `rows` as they are measured: each printed as JSON to stderr and `table`
    rewritten; then prints the Markdown table."""
    done = []
    for row in rows:
        done.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        json.dump(done, open(table, "w"), indent=2)
    print(markdown(done))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=MODELS, help="models (names in --large)")
    parser.add_argument("--variants", nargs="+", default=["original", "budget"], choices=["original", "budget"])
    parser.add_argument("--large", default="/tmp/mpcc-large")
    parser.add_argument("--budget", type=float, default=0.06)
    parser.add_argument("--samples", type=int, default=8, help="Gaussian calibration inputs for planning")
    parser.add_argument("--projections", type=int, default=8, help="--fast-projections for planning")
    parser.add_argument("--rerun-macs", type=float, default=2e10, help="--fast-rerun-macs for planning")
    parser.add_argument("--reuse-plans", action="store_true", help="compile budget rows from OUT/NAME_budget.json of an earlier run (give that run's --samples: the calibration inputs are made again from them)")
    tool_arguments(parser, "/tmp/mpcc-settings", "settings.json")
    args = parser.parse_args()
    table = os.path.join(args.out, "settings.json")
    args.earlier = json.load(open(table)) if os.path.exists(table) else []
    if args.table:
        print(markdown(json.load(open(os.path.join(args.out, "settings.json")))))
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "log.txt"), "a") as log:
        settings = (Setting(name, args, log) for name in args.only)
        record((setting.run(variant) for setting in settings for variant in args.variants), table, markdown)


if __name__ == "__main__":
    main()
