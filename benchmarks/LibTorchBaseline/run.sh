#!/usr/bin/env bash
# Builds and runs the libtorch baseline (TorchSharp-cpu) on this machine; arguments go to the program
# (e.g. --json /tmp/libtorch.json). Compare with the throughput runner in the same session:
#   benchmarks/LibTorchBaseline/run.sh --json /tmp/libtorch.json
#   dotnet run -c Release --project benchmarks/Microsoft.ML.Recurrent.Benchmarks -- throughput --libtorch-json /tmp/libtorch.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log="$(dotnet build -c Release "$here/LibTorchBaseline.csproj" -o "$here/bin/out" 2>&1)" || { echo "$log"; exit 1; }
native="$here/bin/out/runtimes/linux-x64/native/libLibTorchSharp.so"
# TorchSharp 0.107's glue library is linked against GCC 13's libstdc++ and names GLIBCXX_3.4.32 only for
# std::ios_base_library_init, a symbol it references but never calls (no relocation uses it). On a system
# with an older libstdc++ (Debian 12: GCC 12) the loader refuses it; marking that one requirement weak in
# the build output's copy lets it load. Nothing else changes.
# (ldd's output is read whole before grep looks at it: with pipefail, grep -q closing the pipe early could make ldd
# die of SIGPIPE and the check fail, leaving the library unpatched.)
if [ -f "$native" ] && deps="$(ldd "$native" 2>&1 || true)" && grep -q "version \`GLIBCXX_3.4.32' not found" <<<"$deps"; then
  python3 "$here/weaken_version.py" "$native" GLIBCXX_3.4.32
fi
exec dotnet "$here/bin/out/LibTorchBaseline.dll" "$@"
