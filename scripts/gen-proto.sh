#!/usr/bin/env bash
# Generates the Python gRPC stubs for every proto into their own package, salesguard_api
# (api/src/salesguard_api/<service>/v1), the one place services and the gateway import
# them from; hand-written shared code stays in salesguard. The wire names keep the proto
# packages (salesguard.<service>.v1): only the Python module path differs, so protoc's
# output is generated under a scratch root and its imports are pointed at salesguard_api.
# Deterministic, so CI can regenerate and diff against what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=api/src/salesguard_api
venv_bin=$(dirname "$(uv run --quiet python -c 'import sys; print(sys.executable)')")
mapfile -t protos < <(find proto -name '*.proto' | LC_ALL=C sort)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

uv run --quiet python -m grpc_tools.protoc -Iproto \
  --plugin=protoc-gen-mypy="$venv_bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$venv_bin/protoc-gen-mypy_grpc" \
  --python_out="$scratch" --grpc_python_out="$scratch" \
  --mypy_out=quiet:"$scratch" --mypy_grpc_out=quiet:"$scratch" \
  "${protos[@]}"

# Start from a clean slate so a deleted proto leaves no stale module behind.
find "$out" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
cp -R "$scratch/salesguard/." "$out/"
# Module references (imports, and the module names messages report) move to
# salesguard_api; descriptor contents and RPC paths keep the proto package.
find "$out" -path '*/v1/*' \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -print0 \
  | xargs -0 sed -i -E \
    -e 's/\bsalesguard\.([a-z]+)\.v1( import\b)/salesguard_api.\1.v1\2/g' \
    -e 's/\bsalesguard\.([a-z]+)\.v1\.([A-Za-z0-9_]+_pb2(_grpc)?)\b/salesguard_api.\1.v1.\2/g'

# Package markers for every generated folder.
for dir in $(printf '%s\n' "${protos[@]}" | xargs -n1 dirname | sort -u); do
  rel=${dir#proto/salesguard}
  while [ -n "$rel" ] && [ "$rel" != "/" ]; do
    touch "$out$rel/__init__.py"
    rel=$(dirname "$rel")
  done
done
