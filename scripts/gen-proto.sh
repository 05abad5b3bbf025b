#!/usr/bin/env bash
# Generates the Python gRPC stubs for every proto into the shared package, the
# one place services and the gateway import them from. Deterministic, so CI can
# regenerate and diff against what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=shared/src
venv_bin=$(dirname "$(uv run --quiet python -c 'import sys; print(sys.executable)')")
mapfile -t protos < <(find proto -name '*.proto' | LC_ALL=C sort)

# Start from a clean slate so a deleted proto leaves no stale module behind.
find "$out/salesguard" -path '*/v1/*' \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete

uv run --quiet python -m grpc_tools.protoc -Iproto \
  --plugin=protoc-gen-mypy="$venv_bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$venv_bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" \
  "${protos[@]}"

# Package markers for every generated folder.
for dir in $(printf '%s\n' "${protos[@]}" | xargs -n1 dirname | sort -u); do
  rel=${dir#proto/}
  while [ "$rel" != "salesguard" ] && [ "$rel" != "." ]; do
    touch "$out/$rel/__init__.py"
    rel=$(dirname "$rel")
  done
done
