"""A run's metrics.csv as 10 bins of mean meta_loss (ES: the mean over theta +- sigma*eps).

    python docs/diagnosis/fig18/curve.py RUN_DIR [RUN_DIR ...]
"""

import csv
import statistics
import sys

for run in sys.argv[1:]:
    rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
    k = max(1, len(rows) // 10)
    bins = [round(statistics.mean(float(r["meta_loss"]) for r in rows[a:a + k]), 3)
            for a in range(0, len(rows), k)]
    print(f"{run}: {len(rows)} steps, {float(rows[-1]['wall_time']):.0f} s: {bins}")
