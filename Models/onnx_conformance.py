#!/usr/bin/env python3
"""Opt-in conformance sweep: run mpcc over the test models bundled in the onnx wheel.

Not run by the test suite. It finds the models the installed `onnx` package ships under
onnx/backend/test/data/{pytorch-converted,pytorch-operator,simple}/*/model.onnx (plus,
with --suites light, the light_*.onnx CNNs: ResNet50, SqueezeNet, ShuffleNet, ... with
ConstantOfShape stand-in weights), runs `mpcc MODEL --emit ir` on each with a timeout, and
sorts the results into

    ok        exit code 0 (imported, compiled and printed the IR)
    rejected  exit code 1 (clean refusal, e.g. an unsupported op named in the message)
    FAILED    anything else: exit code 2 (internal error), another code, a crash signal,
              or the timeout

printing the first stderr line of everything that was not ok, and totals. The models are
read where the onnx wheel keeps them; nothing is copied into the repository. Test data
(test_data_set_0/input_*.pb, output_*.pb) is converted to .npy in a temporary directory
only when a check needs it.

    pip install onnx numpy
    python3 Models/onnx_conformance.py --list                  # discovery only, no mpcc needed
    python3 Models/onnx_conformance.py                         # uses .build/debug/mpcc
    python3 Models/onnx_conformance.py --mpcc .build/release/mpcc --timeout 30 -k 'Conv*'
    python3 Models/onnx_conformance.py --compare               # also mpcc --infer vs reference
    python3 Models/onnx_conformance.py --json report.json

--compare (experimental, for when `mpcc MODEL --infer X.npy -o Y.npy` exists): for models
that imported OK and have one input and one output, runs the float reference engine with
`--keep-maxpool --keep-relu6` and compares with the reference output (rtol/atol options).
New checks go into CHECKS: a function (case, mpcc, workdir, args) -> Outcome.

Exit status: 0 if nothing FAILED, 1 if something did, 2 if mpcc or onnx is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SUITES = ("pytorch-converted", "pytorch-operator", "simple")
ALL_SUITES = DEFAULT_SUITES + ("light",)


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------


def onnx_data_dir() -> Path:
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: the onnx Python package is not installed (pip install onnx)")
    return Path(list(spec.submodule_search_locations)[0]) / "backend" / "test" / "data"


@dataclasses.dataclass
class Case:
    suite: str
    name: str
    model: Path
    input_pbs: list[Path]          # test_data_set_0/input_*.pb (empty for light models)
    output_pbs: list[Path]         # test_data_set_0/output_*.pb or light_*_output_0.pb
    synthetic_input: bool = False  # light models: input = arange(n)/n, as onnx's runner does

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"


def _sorted_pbs(folder: Path, prefix: str) -> list[Path]:
    pbs = list(folder.glob(f"{prefix}_*.pb"))
    return sorted(pbs, key=lambda p: int(p.stem.split("_")[-1]))


def discover(suites, data_dir: Path | None = None) -> list[Case]:
    data_dir = data_dir or onnx_data_dir()
    cases: list[Case] = []
    for suite in suites:
        root = data_dir / suite
        if not root.is_dir():
            print(f"warning: {root} does not exist in this onnx wheel; skipped", file=sys.stderr)
            continue
        if suite == "light":
            for model in sorted(root.glob("light_*.onnx")):
                name = model.stem[len("light_"):]
                outs = sorted(root.glob(f"{model.stem}_output_*.pb"))
                cases.append(Case(suite, name, model, [], outs, synthetic_input=True))
            continue
        for model in sorted(root.glob("*/model.onnx")):
            ds = model.parent / "test_data_set_0"
            cases.append(Case(suite, model.parent.name, model,
                              _sorted_pbs(ds, "input") if ds.is_dir() else [],
                              _sorted_pbs(ds, "output") if ds.is_dir() else []))
    return cases


# --------------------------------------------------------------------------------------
# Test data -> .npy (temporary directory only)
# --------------------------------------------------------------------------------------


def load_pb(path: Path):
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def synthetic_inputs(model_path: Path) -> list:
    """What onnx's backend runner feeds light models: arange(n).reshape(shape)/n."""
    import numpy as np
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    arrays = []
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                      for d in vi.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        arrays.append((np.arange(n).reshape(shape) / n).astype(np.float32))
    return arrays


def materialize(case: Case, workdir: Path) -> tuple[list[Path], list[Path]]:
    """Write the case's inputs and reference outputs as .npy files under workdir."""
    import numpy as np

    workdir.mkdir(parents=True, exist_ok=True)
    ins = synthetic_inputs(case.model) if case.synthetic_input else \
        [load_pb(p) for p in case.input_pbs]
    outs = [load_pb(p) for p in case.output_pbs]
    in_paths, out_paths = [], []
    for i, a in enumerate(ins):
        p = workdir / f"input_{i}.npy"
        np.save(p, np.ascontiguousarray(a))
        in_paths.append(p)
    for i, a in enumerate(outs):
        p = workdir / f"output_{i}.npy"
        np.save(p, np.ascontiguousarray(a))
        out_paths.append(p)
    return in_paths, out_paths


# --------------------------------------------------------------------------------------
# Running mpcc
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    status: str               # "ok" | "rejected" | "FAILED" | "skipped"
    detail: str = ""          # first stderr line, or why
    rc: int | None = None
    seconds: float = 0.0


def run_mpcc(mpcc: Path, argv: list[str], timeout: float) -> tuple[int | None, str, str, float]:
    """Returns (returncode or None on timeout, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([str(mpcc)] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only mpcc and its children
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        rc = None
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def classify(rc: int | None, stderr: str, seconds: float, timeout: float) -> Outcome:
    if rc is None:
        return Outcome("FAILED", f"timeout after {timeout:g} s", None, seconds)
    if rc == 0:
        return Outcome("ok", "", 0, seconds)
    if rc == 1:
        return Outcome("rejected", first_line(stderr) or "(exit 1, empty stderr)", 1, seconds)
    if rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        return Outcome("FAILED", f"killed by {sig}: {first_line(stderr)}", rc, seconds)
    return Outcome("FAILED", f"exit {rc}: {first_line(stderr)}", rc, seconds)


def check_import(case: Case, mpcc: Path, workdir: Path, args) -> Outcome:
    rc, _out, err, secs = run_mpcc(mpcc, [str(case.model), "--emit", "ir"], args.timeout)
    return classify(rc, err, secs, args.timeout)


def check_compare(case: Case, mpcc: Path, workdir: Path, args) -> Outcome:
    """mpcc --infer on the reference input, compared with the reference output."""
    import numpy as np

    try:
        ins, outs = materialize(case, workdir)
    except Exception as e:  # e.g. a non-tensor (sequence) test input
        return Outcome("skipped", f"cannot convert test data: {e!r}"[:200])
    if len(ins) != 1 or len(outs) != 1:
        return Outcome("skipped", f"{len(ins)} inputs / {len(outs)} outputs (need 1 / 1)")
    got = workdir / "mpcc_output.npy"
    argv = [str(case.model), "--infer", str(ins[0]), "-o", str(got),
            "--keep-maxpool", "--keep-relu6"]
    rc, _out, err, secs = run_mpcc(mpcc, argv, args.timeout)
    res = classify(rc, err, secs, args.timeout)
    if res.status != "ok":
        return res
    if not got.exists():
        return Outcome("FAILED", "exit 0 but no output file written", 0, secs)
    want = np.load(outs[0])
    have = np.load(got)
    if have.shape != want.shape:
        # a leading batch of 1 may legitimately be kept or dropped; compare the values
        if have.size != want.size:
            return Outcome("FAILED", f"shape {have.shape} != reference {want.shape}", 0, secs)
        have = have.reshape(want.shape)
    err_abs = float(np.max(np.abs(have.astype(np.float64) - want.astype(np.float64)))) \
        if want.size else 0.0
    if not np.allclose(have, want, rtol=args.rtol, atol=args.atol):
        return Outcome("FAILED", f"max |diff| {err_abs:.3g} (rtol {args.rtol}, atol {args.atol})",
                       0, secs)
    return Outcome("ok", f"max |diff| {err_abs:.3g}", 0, secs)


# name -> (function, needs the import check to have passed)
CHECKS = {
    "import": (check_import, False),
    "compare": (check_compare, True),
}


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Run mpcc over the ONNX wheel's bundled test models (opt-in).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mpcc", type=Path, default=Path(".build/debug/mpcc"),
                    help="mpcc binary (default: .build/debug/mpcc, relative to the current "
                         "directory)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per mpcc run (60)")
    ap.add_argument("--suites", default=",".join(DEFAULT_SUITES),
                    help=f"comma-separated, from {','.join(ALL_SUITES)} "
                         f"(default: {','.join(DEFAULT_SUITES)})")
    ap.add_argument("-k", "--filter", default="*",
                    help="fnmatch pattern on 'suite/name' or 'name' (default '*')")
    ap.add_argument("--list", action="store_true",
                    help="only list the discovered models and their test data; no mpcc needed")
    ap.add_argument("--compare", action="store_true",
                    help="also compare mpcc --infer with the reference output (experimental)")
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--json", type=Path, help="write all results to this JSON file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every result line")
    args = ap.parse_args(argv)

    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in suites if s not in ALL_SUITES]
    if unknown:
        ap.error(f"unknown suite(s): {', '.join(unknown)}")
    cases = [c for c in discover(suites)
             if fnmatch.fnmatch(c.id, args.filter) or fnmatch.fnmatch(c.name, args.filter)]
    if not cases:
        print("no models found (check --suites / -k)", file=sys.stderr)
        return 2

    if args.list:
        for c in cases:
            try:
                import onnx
                m = onnx.load(str(c.model), load_external_data=False)
                opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
                             "?")
                ops = sorted({n.op_type for n in m.graph.node})
                ins = ([a.shape for a in synthetic_inputs(c.model)] if c.synthetic_input
                       else [load_pb(p).shape for p in c.input_pbs])
                outs = [load_pb(p).shape for p in c.output_pbs]
                info = f"opset {opset}  in {ins}  out {outs}  ops {' '.join(ops)}"
            except Exception as e:
                info = f"(cannot read: {e!r})"
            print(f"{c.id:60s} {info}")
        print(f"{len(cases)} models in {', '.join(suites)}")
        return 0

    mpcc = args.mpcc
    if not (mpcc.is_file() and os.access(mpcc, os.X_OK)):
        print(f"error: mpcc binary not found or not executable: {mpcc} "
              f"(build it with 'swift build' in the repository root, or pass --mpcc PATH)",
              file=sys.stderr)
        return 2
    mpcc = mpcc.resolve()

    checks = ["import"] + (["compare"] if args.compare else [])
    results = []
    totals = {chk: {"ok": 0, "rejected": 0, "FAILED": 0, "skipped": 0} for chk in checks}
    with tempfile.TemporaryDirectory(prefix="mpcc-conformance-") as tmp:
        for i, case in enumerate(cases):
            row = {"model": case.id, "path": str(case.model)}
            imported = False
            for chk in checks:
                fn, needs_import = CHECKS[chk]
                if needs_import and not imported:
                    outcome = Outcome("skipped", "import did not succeed")
                else:
                    try:
                        outcome = fn(case, mpcc, Path(tmp) / f"{i:04d}", args)
                    except Exception as e:  # a bug in this script, not in mpcc
                        outcome = Outcome("skipped", f"harness error: {e!r}"[:200])
                if chk == "import":
                    imported = outcome.status == "ok"
                totals[chk][outcome.status] += 1
                row[chk] = dataclasses.asdict(outcome)
                if args.verbose or outcome.status not in ("ok", "skipped"):
                    print(f"{chk:8s} {outcome.status:9s} {case.id:55s} "
                          f"{outcome.seconds:6.2f}s  {outcome.detail}")
            results.append(row)

    print()
    for chk in checks:
        t = totals[chk]
        print(f"{chk}: {len(cases)} models: {t['ok']} ok, {t['rejected']} rejected cleanly, "
              f"{t['FAILED']} FAILED" + (f", {t['skipped']} skipped" if t["skipped"] else ""))
    if args.json:
        args.json.write_text(json.dumps({"mpcc": str(mpcc), "suites": suites, "totals": totals,
                                         "results": results}, indent=1))
    return 1 if any(t["FAILED"] for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
