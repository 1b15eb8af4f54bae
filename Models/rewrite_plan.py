#!/usr/bin/env python3
"""Rewrites a block-size plan (mpcc --emit spec) for benchmarks: every channel gets the
same block (--uniform 4x4) or a block drawn from a list (--random 1x1,2x2,id,...).

    mpcc model.onnx --emit spec -o plan.json
    python3 Models/rewrite_plan.py plan.json --uniform 4x4 -o uniform.json
    mpcc model.onnx --spec uniform.json -o model.mpcb
"""
import argparse
import json
import random


def block(text):
    if text == "id":
        return [0, 1]
    if text == "zero":
        return [1, 0]
    height, width = text.split("x")
    return [int(height), int(width)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--uniform", help="one block for every channel, e.g. 4x4")
    group.add_argument("--random", help="comma-separated blocks to draw from, e.g. 1x1,2x2,3x5,id")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    plan = json.load(open(args.plan))
    rng = random.Random(args.seed)
    choices = [block(b) for b in (args.random or args.uniform).split(",")]
    for name, channels in plan["layers"].items():
        plan["layers"][name] = [choices[0] if args.uniform else rng.choice(choices) for _ in channels]
    for key in ("plan_drelus",):
        plan.pop(key, None)
    json.dump(plan, open(args.output, "w"))


if __name__ == "__main__":
    main()
