#!/usr/bin/env bash
# Throughput of this engine against libtorch (TorchSharp-cpu) measured on this machine, in one session:
# ROUNDS rounds (default 3), each one libtorch run then one run of ours, so both see the same background
# load; then the medians and their ratios. Extra arguments go to both runners (e.g. --configs 1,4), except
# --no-ort, which only ours takes. Our runs also time ONNX Runtime (intra-op threads 1 and 2, repeats alternating
# with ours) and the batch-1 roofline floor, so the table carries ours/libtorch, ours/ORT and latency/floor per row.
#   benchmarks/compare-libtorch.sh [ROUNDS] [--configs 1,4] [--no-ort]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rounds=3
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then rounds="$1"; shift; fi
out="${COMPARE_OUT:-$(mktemp -d)}"
mkdir -p "$out"
dotnet build -c Release "$here/Microsoft.ML.Recurrent.Benchmarks" >/dev/null
bench="$here/Microsoft.ML.Recurrent.Benchmarks/bin/Release/net10.0/Microsoft.ML.Recurrent.Benchmarks.dll"
ours=(); torch=(); torch_args=()
for a in "$@"; do [[ "$a" == "--no-ort" ]] || torch_args+=("$a"); done
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: libtorch"
  "$here/LibTorchBaseline/run.sh" --json "$out/libtorch-$r.json" "${torch_args[@]}" >"$out/libtorch-$r.txt"
  echo "round $r/$rounds: ours"
  dotnet "$bench" throughput --json "$out/ours-$r.json" --libtorch-json "$out/libtorch-$r.json" "$@" >"$out/ours-$r.txt"
  ours+=("$out/ours-$r.json"); torch+=("$out/libtorch-$r.json")
done
echo "runs kept in $out"
dotnet "$bench" compare --ours "${ours[@]}" --libtorch "${torch[@]}" --markdown
