#!/usr/bin/env bash
# The shim's cost per socket()+close() pair, against a native run.
#   scripts/bench.sh [PAIRS]    (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-200000}"
bench=build/bin/bench_socket_close
traces="$(mktemp -d /tmp/connleak-bench-XXXXXX)"
trap 'rm -rf "$traces"' EXIT

best() {  # the fastest of 5 runs, in ns per pair
  local best_ns=""
  for _ in 1 2 3 4 5; do
    rm -f "$traces"/*
    ns=$("$@" "$pairs")
    if [ -z "$best_ns" ] || awk "BEGIN{exit !($ns < $best_ns)}"; then best_ns=$ns; fi
  done
  echo "$best_ns"
}

native=$(best "$bench")
traced=$(best env LD_PRELOAD="$PWD/build/lib/libconnleak.so" CONNLEAK_OUTPUT_DIR="$traces" "$bench")
printf "socket()+close(), %s pairs, best of 5\n" "$pairs"
printf "  native:        %8.1f ns/pair\n" "$native"
printf "  under connleak:%8.1f ns/pair\n" "$traced"
awk "BEGIN{printf \"  ratio:         %8.2fx (+%.0f ns/pair)\n\", $traced/$native, $traced-$native}"
