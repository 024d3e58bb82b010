#!/bin/bash
# One meta-training trajectory meta-tested at several steps (exact resume: the stages are
# points of the uninterrupted run).  Appends one line per stage to OUT_DIR.stages.
#   docs/diagnosis/fig18/staged.sh METHOD OUT_DIR "S1 S2 ..." [KEY=VALUE ...]
set -e
here="$(cd "$(dirname "$0")" && pwd)"
m=$1; out=$2; stages=$3; shift 3
last=${stages##* }
for s in $stages; do
  STOP_AFTER=$s "$here/train.sh" "$m" "$out" "$last" "$@"
  mkdir -p "$out-at$s"
  cp "$out/run.json" "$out/checkpoint.npz" "$out-at$s/"
  wall=$(tail -1 "$out/metrics.csv" | cut -d, -f4)
  echo "step $s (${wall%.*} s of meta-training): $("$here/test.sh" "$out-at$s" test 3200) | train split: $("$here/test.sh" "$out-at$s" train 1600 | sed 's/.*query acc/query acc/')" >> "$out.stages"
done
