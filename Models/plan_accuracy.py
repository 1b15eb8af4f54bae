#!/usr/bin/env python3
"""Accuracy against DReLU budget on a model trained on real data (default
Models/mnist_resnet): at the DReLU counts of one uniform block size B x B for every
channel (B from --blocks), the knapsack plan (`--distortion`, default fast), the uniform
plan and the unmodified network, each in float (`mpcc --infer`) and secure (the compiled
program in `mpcr emulate`, whose output `mpcr local` reproduces: checked on the first
--check test images of every program), optionally after fine-tuning each plan with
Models/finetune.py (--finetune EPOCHS). Writes a Markdown table, the numbers as JSON and
an SVG plot (accuracy against the DReLU share, log scale) to --out.

    python3 Models/plan_accuracy.py [--model-dir Models/mnist_resnet] [--blocks 2 3 4 6 10]
        [--finetune 2 [--train-x X.npy --train-y Y.npy]] [--default-pipeline] [--out /tmp/mpcc-plans]

The model folder holds model.onnx, calibration.npy (+ calibration_labels.npy, the
default fine-tuning set; `python3 Models/train_mnist.py --training-set DIR` writes the
mnist_resnet's 4,000 training images for --train-x/--train-y) and test.npy / test_labels.npy (held out). Max pooling is kept
(--keep-maxpool) unless --default-pipeline. Needs numpy besides mpcc and mpcr (and torch
for --finetune).
"""
import argparse, json, math, os, re, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout


class Evaluation:
    def __init__(self, args):
        self.args = args
        self.dir = args.model_dir
        self.keep = [] if args.default_pipeline else ["--keep-maxpool"]
        self.test = os.path.join(self.dir, "test.npy")
        self.labels = os.path.join(self.dir, "test_labels.npy")
        self.calibration = os.path.join(self.dir, "calibration.npy")
        self.sample = os.path.join(args.out, "check.npy")
        np.save(self.sample, np.load(self.test)[: args.check])

    def float_accuracy(self, model, plan):
        cmd = [self.args.mpcc, model] + self.keep + ["--infer", self.test, "--labels", self.labels]
        cmd += ["--spec", plan] if plan else []
        return float(re.search(r"accuracy: \d+/\d+ = ([0-9.]+)", run(cmd)).group(1))

    def secure_accuracy(self, model, plan, name):
        """Emulated accuracy of the compiled program; `mpcr local` must print the same
        outputs as the emulator on the check images (up to the stochastic truncations'
        last bits: the top class must agree)."""
        program = os.path.join(self.args.out, name + ".mpcb")
        cmd = [self.args.mpcc, model] + self.keep + ["--calibration", self.calibration, "-o", program]
        run(cmd + (["--spec", plan] if plan else []))
        out = run([self.args.mpcr, "emulate", program, "--input", self.test, "--labels", self.labels])
        accuracy = float(re.search(r"accuracy: \d+/\d+ = ([0-9.]+)", out).group(1))
        emulated, secure = (os.path.join(self.args.out, name + s + ".npy") for s in ["_emu", "_3pc"])
        run([self.args.mpcr, "emulate", program, "--input", self.sample, "--output", emulated])
        run([self.args.mpcr, "local", program, "--input", self.sample, "--output", secure])
        a, b = np.load(emulated), np.load(secure)
        agree = bool((a.reshape(len(a), -1).argmax(1) == b.reshape(len(b), -1).argmax(1)).all())
        return accuracy, agree

    def finetuned(self, model, plan, name):
        tuned = os.path.join(self.args.out, name + "_tuned.onnx")
        train_x = self.args.train_x or self.calibration
        train_y = self.args.train_y or os.path.join(self.dir, "calibration_labels.npy")
        cmd = [sys.executable, os.path.join(HERE, "finetune.py"), model, "--spec", plan, "--train-x", train_x,
               "--train-y", train_y, "--epochs", str(self.args.finetune), "-o", tuned]
        run(cmd + self.keep)
        return tuned


def uniform_plan(layers, b):
    count = sum(l["channels"] * math.ceil(l["height"] / b) * math.ceil(l["width"] / b) for l in layers)
    plan = {"format": "mpcc-block-plan", "version": 1, "plan_drelus": count,
            "layers": {l["name"]: [[b, b]] * l["channels"] for l in layers}}
    return plan, count


def svg(result, path):
    """Accuracy (y) against the DReLU share (x, log scale), one polyline per series."""
    rows = result["rows"]
    series = [("knapsack, float", "knapsack_float", "#08519c", ""), ("knapsack, secure", "knapsack_secure", "#08519c", "4 3"),
              ("uniform, float", "uniform_float", "#e6550d", ""), ("uniform, secure", "uniform_secure", "#e6550d", "4 3"),
              ("knapsack, fine-tuned", "knapsack_tuned_float", "#31a354", ""), ("uniform, fine-tuned", "uniform_tuned_float", "#a1d99b", "")]
    width, height, left, top, plot_w, plot_h = 720, 420, 60, 30, 600, 320
    shares = [r["share"] for r in rows]
    lo, hi = math.log10(min(shares) / 1.3), math.log10(1.0)
    def x(share): return left + plot_w * (math.log10(share) - lo) / (hi - lo)
    def y(acc): return top + plot_h * (1 - acc)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="18" font-weight="bold">{result["model"]}: test accuracy against the share of DReLUs kept</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>']
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0]:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    for r in rows:
        parts.append(f'<text x="{x(r["share"]):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{100 * r["share"]:.1f}%</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(result["unmodified_float"]):.1f}" y2="{y(result["unmodified_float"]):.1f}" '
                 'stroke="#555" stroke-dasharray="2 2"/>')
    legend = [("unmodified", "#555", "2 2")]
    for label, key, color, dash in series:
        points = [(x(r["share"]), y(r[key])) for r in rows if r.get(key) is not None]
        if not points:
            continue
        legend.append((label, color, dash))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" points="' +
                     " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in points]
    for index, (label, color, dash) in enumerate(legend):
        ly = top + plot_h - 14 * (len(legend) - index) - 4
        parts.append(f'<line x1="{left + plot_w - 170}" x2="{left + plot_w - 145}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{left + plot_w - 140}" y="{ly + 4}">{label}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">DReLUs kept (share of the model\'s, log scale)</text>')
    parts.append("</svg>")
    open(path, "w").write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=os.path.join(HERE, "mnist_resnet"))
    parser.add_argument("--mpcc", default=".build/release/mpcc")
    parser.add_argument("--mpcr", default=".build/release/mpcr")
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 3, 4, 6, 10])
    parser.add_argument("--distortion", default="fast", choices=["fast", "exact"])
    parser.add_argument("--finetune", type=int, default=0, metavar="EPOCHS", help="also fine-tune every plan (Models/finetune.py)")
    parser.add_argument("--train-x", help="fine-tuning images (default: the model folder's calibration.npy)")
    parser.add_argument("--train-y", help="their labels (default: calibration_labels.npy)")
    parser.add_argument("--default-pipeline", action="store_true", help="let max pooling become average pooling")
    parser.add_argument("--check", type=int, default=8, help="test images run through mpcr local per program")
    parser.add_argument("--out", default="/tmp/mpcc-plans")
    args = parser.parse_args()
    if (args.train_x is None) != (args.train_y is None):
        parser.error("--train-x and --train-y go together")
    os.makedirs(args.out, exist_ok=True)
    ev = Evaluation(args)
    model = os.path.join(args.model_dir, "model.onnx")
    report_path = os.path.join(args.out, "layers.json")
    run([args.mpcc, model] + ev.keep + ["--emit", "report", "--report", report_path])
    report = json.load(open(report_path))
    total = report["model_drelus"]
    table = os.path.join(args.out, "table.json")
    start = time.perf_counter()
    run([args.mpcc, model] + ev.keep + ["--budget", "0.1", "--calibration", ev.calibration, "--distortion", args.distortion,
                                        "--save-distortion", table, "--emit", "spec", "-o", os.path.join(args.out, "scratch.json")])
    seconds = time.perf_counter() - start
    unmodified_secure, agree = ev.secure_accuracy(model, None, "unmodified")
    result = {"model": os.path.basename(os.path.normpath(args.model_dir)), "model_drelus": total, "distortion": args.distortion,
              "distortion_seconds": seconds, "unmodified_float": ev.float_accuracy(model, None),
              "unmodified_secure": unmodified_secure, "all_local_agree": agree, "rows": []}
    for b in args.blocks:
        uniform, count = uniform_plan(report["layers"], b)
        row = {"block": b, "drelus": count, "share": count / total}
        plans = {"uniform": os.path.join(args.out, f"uniform_{b}.json"), "knapsack": os.path.join(args.out, f"knapsack_{b}.json")}
        json.dump(uniform, open(plans["uniform"], "w"))
        run([args.mpcc, model] + ev.keep + ["--drelus", str(count), "--calibration", ev.calibration, "--load-distortion", table,
                                            "--emit", "spec", "-o", plans["knapsack"]])
        for kind, plan in plans.items():
            row[f"{kind}_float"] = ev.float_accuracy(model, plan)
            row[f"{kind}_secure"], agree = ev.secure_accuracy(model, plan, f"{kind}_{b}")
            result["all_local_agree"] &= agree
            if args.finetune:
                tuned = ev.finetuned(model, plan, f"{kind}_{b}")
                row[f"{kind}_tuned_float"] = ev.float_accuracy(tuned, plan)
                row[f"{kind}_tuned_secure"], agree = ev.secure_accuracy(tuned, plan, f"{kind}_{b}_tuned")
                result["all_local_agree"] &= agree
        result["rows"].append(row)
        print(f"{b}x{b}: {row}", file=sys.stderr)
    json.dump(result, open(os.path.join(args.out, "accuracy.json"), "w"), indent=2)
    svg(result, os.path.join(args.out, "accuracy.svg"))
    print(f"{result['model']}: {total} DReLUs; {args.distortion} distortion table in {seconds:.1f} s; unmodified: float "
          f"{result['unmodified_float']:.4f}, secure {result['unmodified_secure']:.4f}; mpcr local agreed with the emulator on "
          f"every checked image: {result['all_local_agree']}")
    tuned = " | knapsack, fine-tuned (float / secure) | uniform, fine-tuned (float / secure)" if args.finetune else ""
    print("| DReLUs | knapsack (float / secure) | uniform (float / secure)" + tuned + " |")
    print("|---|---|---" + ("|---|---" if args.finetune else "") + "|")
    for r in result["rows"]:
        line = (f"| {r['block']}x{r['block']} count, {r['drelus']} ({100 * r['share']:.1f}%) | {r['knapsack_float']:.4f} / "
                f"{r['knapsack_secure']:.4f} | {r['uniform_float']:.4f} / {r['uniform_secure']:.4f}")
        if args.finetune:
            line += (f" | {r['knapsack_tuned_float']:.4f} / {r['knapsack_tuned_secure']:.4f} | "
                     f"{r['uniform_tuned_float']:.4f} / {r['uniform_tuned_secure']:.4f}")
        print(line + " |")


if __name__ == "__main__":
    main()
