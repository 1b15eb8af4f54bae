#!/usr/bin/env python3
"""The benchmark suite behind `make bench`: the standard models of
Models/export_large.py (CIFAR ResNet18, ResNet50 and MobileNetV2 at 224x224, random
weights with calibrated BatchNorm statistics) through `mpcr local` (three processes,
encrypted loopback TCP), in three variants of the default pipeline (average pooling,
ReLU6 -> ReLU):

  full           every ReLU exact;
  budget         block ReLUs planned under --budget (default 0.06; `fast` distortion on
                 --samples seeded Gaussian inputs, re-runs capped by --rerun-macs; the
                 plan is kept in OUT and reused);
  budget-approx  the same plan with --approx-drelu 16;
  full-radix4    (not run unless named in --variants) every ReLU exact with
                 --comparison-radix 4: fewer rounds, more of the helper's bytes.

Per inference figures are amortized, (a run of 4 inferences - a run of 1) / 3, so the
session setup (masked weights, keys) is excluded; it is reported apart. Each inference
is prepared before its input is used (`--preprocess 1`), so its offline phase (the
helper's material, the client's products with masks) and its online phase are timed
apart. Per variant: online and offline time, bytes per party (the helper's are the
offline bytes), rounds, the setup's time and bytes, peak RSS per party, and the
share of the last inference's instruction time spent in linear layers, comparisons,
truncations and the rest (each instruction's time includes waiting for its messages).

Each variant is also run over emulated links (--links; default loopback lan wan):
`mpcr local --emulate-link lan` (1 Gbit/s, 0.5 ms round trip) and `wan` (100 Mbit/s,
40 ms), paced in the transport per direction. Over those only the online and offline
time per inference are measured, by the same (4 - 1) / 3 method, and the wall time per
inference of the three (the helper's offline work overlaps the online phase).

    make bench                                   # release build, exports, this script
    python3 Models/bench.py --only resnet18_cifar [--variants full budget] [--links loopback wan] [--table]

Writes OUT/bench.json (default /tmp/mpcc-bench; each row as before, plus "links": per
link measured, its "seconds", "offline_seconds" and "wall_seconds") and prints two
Markdown tables: the loopback figures, and the online (offline) time per inference over
each link.
"""
import argparse, json, os, sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from four_settings import record, timed, tool_arguments  # noqa: E402

MODELS = ["resnet18_cifar", "resnet50", "mobilenet_v2"]
VARIANTS = ["full", "budget", "budget-approx"]
EXTRA_VARIANTS = ["full-radix4"]
ROLES = ["client", "server", "helper"]
LINKS = ["loopback", "lan", "wan"]
KINDS = {"conv": "linear", "dense": "linear", "scale": "linear", "relu": "comparison", "block_relu": "comparison",
         "max_pool": "comparison", "argmax": "comparison", "trunc": "truncation"}


def inputs(a, name, count):
    """`count` seeded standard-normal inputs of the model's input shape."""
    shape = np.load(os.path.join(a.large, name + "_input.npy")).shape[1:]
    path = os.path.join(a.out, f"{name}_x{count}.npy")
    np.save(path, np.random.default_rng(20261202 + count).standard_normal((count,) + shape).astype(np.float32))
    return path


def program(a, name, variant, log):
    """Compiles the variant (planning the budget once); returns the program's path."""
    model, out = os.path.join(a.large, name + ".onnx"), os.path.join(a.out, f"{name}_{variant}")
    options = ["--comparison-radix", "4"] if variant == "full-radix4" else []
    if variant.startswith("budget"):
        plan = os.path.join(a.out, f"{name}_plan.json")
        calibration = inputs(a, name, a.samples)
        if not os.path.exists(plan):
            timed([a.mpcc, model, "--budget", str(a.budget), "--calibration", calibration, "--distortion", "fast",
                   "--fast-samples", str(a.samples), "--fast-rerun-macs", str(a.rerun_macs), "--emit", "spec", "-o", plan], log)
        options = ["--spec", plan, "--calibration", calibration] + (["--approx-drelu", "16"] if variant == "budget-approx" else [])
    timed([a.mpcc, model] + options + ["-o", out + ".mpcb"], log)
    return out + ".mpcb"


def local(a, path, x, log, link="loopback"):
    report = path.replace(".mpcb", "_report.json" if link == "loopback" else f"_{link}_report.json")
    emulate = [] if link == "loopback" else ["--emulate-link", link]
    timed([a.mpcr, "local", path, "--input", x, "--report", report, "--timeout", "600"] + emulate, log)
    return json.load(open(report))


def amortized(one, four):
    """Online (the client's) and offline (the slowest party's) seconds per inference, and
    the wall time per inference of all three (the helper's offline work overlaps)."""
    per = lambda key, role: (four[role][key] - one[role][key]) / 3  # noqa: E731
    return {"seconds": per("online_seconds", "client"), "offline_seconds": max(per("offline_seconds", r) for r in ROLES),
            "wall_seconds": (four["wall_seconds"] - one["wall_seconds"]) / 3}


def shares(report):
    """Share of the client's last-inference instruction time by kind."""
    totals = {}
    for layer in report["client"]["layers"]:
        kind = KINDS.get(layer["op"], "other")
        totals[kind] = totals.get(kind, 0) + layer["seconds"]
    whole = sum(totals.values()) or 1
    return {k: v / whole for k, v in totals.items()}


def measure(a, name, variant, log):
    """The loopback row's figures (when loopback is among --links) and, per link, the
    online and offline seconds per inference."""
    path = program(a, name, variant, log)
    row = {"model": name, "variant": variant, "links": {}}
    for link in a.links:
        one, four = local(a, path, inputs(a, name, 1), log, link), local(a, path, inputs(a, name, 4), log, link)
        row["links"][link] = amortized(one, four)
        if link == "loopback":
            row.update(loopback(one, four))
    return row


def loopback(one, four):
    per = lambda key, role: (four[role][key] - one[role][key]) / 3  # noqa: E731
    return {
        **amortized(one, four),
        "bytes": {r: per("bytes_sent", r) for r in ROLES},
        "rounds": max(four[r]["rounds"] for r in ROLES),
        "setup_seconds": four["client"]["setup_seconds"],
        "session_bytes": sum(four[r]["session_bytes"] for r in ROLES),
        "peak_rss_mb": {r: four[r]["peak_rss_bytes"] / 2**20 for r in ROLES},
        "time_shares": shares(four),
        "bytes_equal_predicted": one["bytes_sent"] == one["predicted_bytes"] and four["bytes_sent"] == four["predicted_bytes"],
    }


def markdown(rows):
    return loopback_table([r for r in rows if "bytes" in r]) + "\n\n" + links_table(rows)


def links_table(rows):
    """Online time per inference over each link, the offline time in parentheses."""
    lines = ["per inference over emulated links: online (offline)", "",
             "| model | variant | loopback | LAN (1 Gbit/s, 0.5 ms RTT) | WAN (100 Mbit/s, 40 ms RTT) |", "|---|---|---|---|---|"]
    for r in rows:
        links = r.get("links", {"loopback": r})  # rows from before --links: loopback only
        cell = lambda k: f"{links[k]['seconds']:.3f} s ({links[k]['offline_seconds']:.3f} s)" if k in links else "-"  # noqa: E731
        lines.append(f"| {r['model']} | {r['variant']} | " + " | ".join(cell(k) for k in LINKS) + " |")
    return "\n".join(lines)


def loopback_table(rows):
    lines = ["| model | variant | online (offline) per inference | bytes C / S / H | rounds | setup | peak RSS C / S / H | linear / comparison / trunc / other | bytes = predicted |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = " / ".join(f"{r['bytes'][k] / 1e6:,.1f}" for k in ROLES)
        peak = " / ".join(f"{r['peak_rss_mb'][k]:.0f}" for k in ROLES)
        t = " / ".join(f"{100 * r['time_shares'].get(k, 0):.0f}%" for k in ["linear", "comparison", "truncation", "other"])
        lines.append(f"| {r['model']} | {r['variant']} | {r['seconds']:.3f} s ({r['offline_seconds']:.3f} s) | {b} MB | {r['rounds']} | "
                     f"{r['setup_seconds']:.2f} s, {r['session_bytes'] / 1e6:,.1f} MB | {peak} MB | {t} | {'yes' if r['bytes_equal_predicted'] else 'no'} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=MODELS, choices=MODELS, metavar="MODEL")
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS + EXTRA_VARIANTS)
    parser.add_argument("--links", nargs="+", default=LINKS, choices=LINKS, help="loopback, and links emulated by mpcr local --emulate-link")
    parser.add_argument("--large", default="/tmp/mpcc-large", help="where export_large.py wrote the models")
    parser.add_argument("--budget", type=float, default=0.06)
    parser.add_argument("--samples", type=int, default=8, help="Gaussian calibration inputs for planning")
    parser.add_argument("--rerun-macs", type=float, default=2e10, help="--fast-rerun-macs for planning")
    tool_arguments(parser, "/tmp/mpcc-bench", "bench.json")
    a = parser.parse_args()
    table = os.path.join(a.out, "bench.json")
    if a.table:
        print(markdown(json.load(open(table))))
        return
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "log.txt"), "a") as log:
        record((measure(a, name, variant, log) for name in a.only for variant in a.variants), table, markdown)


if __name__ == "__main__":
    main()
