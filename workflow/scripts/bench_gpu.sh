# Paper-scale benchmark on one GPU (docs/performance.md): A=784, B=10, P=1024, T=500.
# Usage: OUT=dir bash workflow/scripts/bench_gpu.sh
export PYTHONUNBUFFERED=1 PYTHONPATH=.
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 - <<'PY'
import argparse, sys, os
from vsml import bench
p = argparse.ArgumentParser(); sub = p.add_subparsers(); bench.register(sub)
out = os.environ["OUT"]
args = p.parse_args(["bench", "-A", "784", "-B", "10", "-P", "1024", "-T", "500", "--chunk", "512",
                     "--repeats", "2", "--es", "--json", f"{out}/bench_h200.json"])
sys.exit(args.func(args))
PY
