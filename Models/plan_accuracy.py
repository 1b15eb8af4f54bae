#!/usr/bin/env python3
"""Accuracy of block-ReLU plans on the real-data model (Models/mnist_resnet): the knapsack
plan from `exact` distortion, from `fast` distortion, a uniform block size with about the
same DReLU count, and the unmodified network, at several budgets.

    python3 Models/plan_accuracy.py [--mpcc .build/release/mpcc] [--budgets 0.25 0.1 0.06]

Measures each distortion table once (timing it), plans every budget from the saved
tables (`--load-distortion`), and evaluates every plan in float on the held-out test set
(`--spec plan.json --infer test.npy --labels test_labels.npy`). It also scores the `fast`
plan on the `exact` table (the knapsack's objective), a less noisy measure of how much the
estimate costs than 400 test images. The model was trained
with max pooling and is compiled with --keep-maxpool throughout. Prints a Markdown table
and writes the numbers as JSON next to the tables (--out, default /tmp/mpcc-plans).
Needs only numpy besides mpcc.
"""
import argparse, json, math, os, re, subprocess, sys, time

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_resnet")


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout


def accuracy(mpcc, model, plan):
    cmd = [mpcc, model, "--keep-maxpool", "--infer", os.path.join(MODEL_DIR, "test.npy"),
           "--labels", os.path.join(MODEL_DIR, "test_labels.npy")]
    if plan:
        cmd += ["--spec", plan]
    match = re.search(r"accuracy: \d+/\d+ = ([0-9.]+)", run(cmd))
    return float(match.group(1))


def table_distortion(table, plan):
    """Total distortion of a plan's block sizes in a distortion table (the knapsack's
    objective), to score the `fast` plan on the `exact` table."""
    layers = {l["name"]: l for l in table["layers"]}
    total = 0.0
    for name, blocks in plan["layers"].items():
        layer = layers[name]
        candidates = [tuple(c) for c in layer["candidates"]]
        for channel, block in enumerate(blocks):
            total += max(layer["distortion"][channel][candidates.index(tuple(block))], 0.0)
    return total


def uniform_plan(report, target):
    """The square block size b used everywhere whose DReLU count is closest to target."""
    best = None
    for b in range(1, 29):
        count = sum(l["channels"] * math.ceil(l["height"] / b) * math.ceil(l["width"] / b) for l in report["layers"])
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (b, count)
    b, count = best
    layers = {l["name"]: [[b, b]] * l["channels"] for l in report["layers"]}
    return {"format": "mpcc-block-plan", "version": 1, "plan_drelus": count, "layers": layers}, b, count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mpcc", default=".build/release/mpcc")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.25, 0.1, 0.06])
    parser.add_argument("--out", default="/tmp/mpcc-plans")
    parser.add_argument("--reuse", action="store_true", help="reuse distortion tables already in --out")
    parser.add_argument("--fast-samples", type=int, default=32, help="passed to mpcc --fast-samples")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = os.path.join(MODEL_DIR, "model.onnx")
    calibration = os.path.join(MODEL_DIR, "calibration.npy")

    report_path = os.path.join(args.out, "layers.json")
    run([args.mpcc, model, "--keep-maxpool", "--emit", "report", "--report", report_path])
    report = json.load(open(report_path))
    total = report["model_drelus"]

    seconds = {}
    for method in ["exact", "fast"]:
        table = os.path.join(args.out, f"{method}_table.json")
        if args.reuse and os.path.exists(table):
            continue
        start = time.perf_counter()
        run([args.mpcc, model, "--keep-maxpool", "--budget", str(min(args.budgets)), "--calibration", calibration,
             "--distortion", method, "--fast-samples", str(args.fast_samples), "--save-distortion", table, "--emit", "spec",
             "-o", os.path.join(args.out, "scratch.json")])
        seconds[method] = time.perf_counter() - start

    rows = []
    exact_table = json.load(open(os.path.join(args.out, "exact_table.json")))
    baseline = accuracy(args.mpcc, model, None)
    for budget in args.budgets:
        row = {"budget": budget, "drelus": int(budget * total), "unmodified": baseline}
        for method in ["exact", "fast"]:
            plan = os.path.join(args.out, f"{method}_{budget}.json")
            run([args.mpcc, model, "--keep-maxpool", "--budget", str(budget), "--load-distortion",
                 os.path.join(args.out, f"{method}_table.json"), "--emit", "spec", "-o", plan])
            row[method] = accuracy(args.mpcc, model, plan)
            row[f"{method}_drelus"] = json.load(open(plan))["plan_drelus"]
            row[f"{method}_exact_distortion"] = table_distortion(exact_table, json.load(open(plan)))
        uniform, side, count = uniform_plan(report, budget * total)
        path = os.path.join(args.out, f"uniform_{budget}.json")
        json.dump(uniform, open(path, "w"))
        row["uniform"] = accuracy(args.mpcc, model, path)
        row["uniform_block"] = f"{side}x{side}"
        row["uniform_drelus"] = count
        rows.append(row)

    result = {"model": "mnist_resnet", "model_drelus": total, "test_images": 400, "seconds": seconds, "rows": rows}
    json.dump(result, open(os.path.join(args.out, "accuracy.json"), "w"), indent=2)
    print(f"model DReLUs: {total}; distortion measurement: " +
          ", ".join(f"{m} {s:.1f} s" for m, s in seconds.items()))
    print("| budget | DReLUs (exact / fast / uniform) | knapsack, exact distortion | knapsack, fast distortion | uniform block | unmodified "
          "| fast plan's distortion on the exact table, over the exact plan's |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        excess = r["fast_exact_distortion"] / r["exact_exact_distortion"] - 1 if r["exact_exact_distortion"] > 0 else 0.0
        print(f"| {r['budget']} | {r['exact_drelus']} / {r['fast_drelus']} / {r['uniform_drelus']} | {r['exact']:.4f} | "
              f"{r['fast']:.4f} | {r['uniform']:.4f} ({r['uniform_block']}) | {r['unmodified']:.4f} | {excess:+.2%} |")


if __name__ == "__main__":
    main()
