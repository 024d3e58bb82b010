#!/bin/bash
# The mini pipeline's Fig. 18 meta-train command (snakemake -n -p figures/fig18.pdf), with
# the output in a scratch folder and extra --set keys last (they win).
#   docs/diagnosis/fig18/train.sh METHOD OUT_DIR STEPS [KEY=VALUE ...]
# e.g. train.sh hebbian /tmp/fig18/es-hebbian 2500          (the published run, exactly)
#      train.sh hebbian /tmp/fig18/gh 1000 meta_train.algorithm=gradient gradient.batch=128 \
#               gradient.learning_rate=0.001 gradient.clip_norm=25
set -e
cd "$(dirname "$0")/../../.."
m=$1; out=$2; steps=$3; shift 3
cfg=config/$m.yaml; [ "$m" = vsml ] && cfg=config/omniglot.yaml
lr=0.01; [ "$m" = vsml ] && lr=0.025
extra=(); for s in "$@"; do extra+=(--set "$s"); done
mkdir -p "$(dirname "$out")"
nice -n 10 vsml meta-train --method "$m" --config "$cfg" \
  --set 'tasks.datasets=[{"dataset": "omniglot_small", "fewshot_ways": 5, "fewshot_shots": 1, "image_size": 7}]' \
  --set meta_train.steps="$steps" --set meta_train.length=6 --set meta_train.checkpoint_every=250 \
  --set meta_train.chunk=16 --set es.pairs=64 --set es.learning_rate=$lr \
  --set tasks.random_projection_fraction=0.0 --set meta_train.loss=last "${extra[@]}" \
  --out "$out" --no-progress --threads 1 ${STOP_AFTER:+--stop-after $STOP_AFTER} >> "$out.log" 2>&1
