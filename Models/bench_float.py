#!/usr/bin/env python3
"""Float forward benchmark: mpcc's float engine (`mpcc MODEL --infer`) against
onnxruntime on the same model, input and machine, interleaved in one run.

    python3 Models/bench_float.py --model /tmp/mpcc-large/resnet50.onnx \
        --input /tmp/mpcc-large/resnet50_input.npy [--mpcc .build/release/mpcc] [--rounds 5]

Prints JSON: per-input milliseconds (median and best of the rounds) for both, and the
ratio of the medians. mpcc runs the model as the original network (--keep-maxpool
--keep-relu6) and reports the time of the inferences alone (not the import); onnxruntime
is timed around session.run after warm-up. Needs `pip install onnxruntime numpy`.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

import numpy as np
import onnxruntime as ort


def mpcc_ms(binary, model, batch_path, env):
    out = subprocess.run([binary, model, "--keep-maxpool", "--keep-relu6", "--infer", batch_path],
                         capture_output=True, text=True, env=env, check=True).stdout
    match = re.search(r"([0-9.]+) ms per input", out)
    if not match:
        sys.exit(f"unexpected mpcc output: {out[:200]}")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True, help="float32 .npy with batch 1")
    parser.add_argument("--mpcc", default=".build/release/mpcc")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="inferences per mpcc invocation")
    args = parser.parse_args()

    x = np.load(args.input).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        batch_path = os.path.join(tmp, "batch.npy")
        np.save(batch_path, np.concatenate([x] * args.batch))
        session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(3):
            session.run(None, {name: x})
        ort_times, mpcc_times = [], []
        for _ in range(args.rounds):
            runs = []
            for _ in range(args.batch):
                start = time.perf_counter()
                session.run(None, {name: x})
                runs.append((time.perf_counter() - start) * 1000)
            ort_times.append(statistics.median(runs))
            mpcc_times.append(mpcc_ms(args.mpcc, args.model, batch_path, dict(os.environ)))
    result = {
        "model": os.path.basename(args.model),
        "cores": os.cpu_count(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "onnxruntime_ms": {"median": statistics.median(ort_times), "best": min(ort_times)},
        "mpcc_ms": {"median": statistics.median(mpcc_times), "best": min(mpcc_times)},
    }
    result["ratio_of_medians"] = result["mpcc_ms"]["median"] / result["onnxruntime_ms"]["median"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
