#!/usr/bin/env bash
# End to end, one fresh process per run: `kquant compress` against the quantette reference
# CLI (examples/quantette_cli.rs), interleaved, medians of N runs (default 5).
#
#   benches/e2e.sh IMAGE [K ...] [-- EXTRA_KQUANT_ARGS]     e.g. benches/e2e.sh dragonfly.png 16 64 256 -- --fast
#
# Any image both can read; the issue measured a PNG copy of
# ../shared/corpus/photos/Dragonfly_by_Bolly.jpg (for example made with ImageMagick's `convert`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,8p "$0"; exit 2; }
in=$1; shift
ks=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  ks+=("$1"); shift
done
[ ${#ks[@]} -gt 0 ] || ks=(16 64 256)
runs=${N:-5}
cargo build -q --release --bin kquant --example quantette_cli
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
# A run that fails ends the script: its time would mean nothing.
ms() {
  local s e; s=$(date +%s%N)
  "$@" >/dev/null || { echo "e2e.sh: failed: $*" >&2; return 1; }
  e=$(date +%s%N); echo $(( (e - s) / 1000000 ))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
name=$(basename "${in%.*}")
printf '%5s %12s %12s %7s %14s %14s\n' k "kquant ms" "quantette ms" ratio "kquant bytes" "quantette B"
for k in "${ks[@]}"; do
  a=(); b=()
  for _ in $(seq "$runs"); do
    a+=("$(ms target/release/kquant compress "$in" -k "$k" -o "$out/kq" "${extra[@]}")")
    b+=("$(ms target/release/examples/quantette_cli "$in" "$k" "$out/qt.png")")
  done
  ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
  printf '%5s %12s %12s %7s %14s %14s\n' "$k" "$ma" "$mb" \
    "$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')" \
    "$(stat -c %s "$out/kq/$name.png")" "$(stat -c %s "$out/qt.png")"
done
