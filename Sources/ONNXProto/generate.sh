#!/bin/sh
# Regenerates the committed protobuf-c code from onnx.proto (apt: protobuf-c-compiler).
set -eu
cd "$(dirname "$0")"
protoc-c --c_out=. onnx.proto
mv onnx.pb-c.h include/onnx.pb-c.h
echo "regenerated onnx.pb-c.c and include/onnx.pb-c.h with $(protoc-c --version | head -n 1)"
