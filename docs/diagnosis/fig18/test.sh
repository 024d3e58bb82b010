#!/bin/bash
# The mini pipeline's Fig. 18 meta-test command on RUN_DIR (its meta_params.npz, else its
# checkpoint.npz), on the test split's unseen alphabets or (SPLIT=train) the meta-training
# alphabets; prints the query accuracy with the 95% CI over blocks of 100 episodes.
#   docs/diagnosis/fig18/test.sh RUN_DIR [test|train] [EPISODES=3200]
set -e
cd "$(dirname "$0")/../../.."
run=$1; split=${2:-test}; n=${3:-3200}
nice -n 10 vsml meta-test --dataset omniglot_small --episodes "$n" --length 6 --seed 0 \
  --scale adhoc --checkpoint "$run" --set task.fewshot_ways=5 --set task.fewshot_shots=1 \
  --set task.image_size=7 --set task.split="$split" --out "$run.$split.csv" > "$run.$split.log" 2>&1
python - "$run.$split.csv" <<'PY'
import sys
import numpy as np
import pandas as pd
f = pd.read_csv(sys.argv[1])
q = f[f.step == 6].correct.to_numpy()
b = q[: len(q) // 100 * 100].reshape(-1, 100).mean(1)
h = 1.96 * b.std() / np.sqrt(len(b) - 1)
print(f"{sys.argv[1]}: query acc {q.mean():.4f} [{q.mean() - h:.4f}, {q.mean() + h:.4f}] over "
      f"{len(q)} queries; support acc {f[f.step < 6].correct.mean():.4f}; "
      f"query CE {f[f.step == 6].loss.mean():.4f}")
PY
