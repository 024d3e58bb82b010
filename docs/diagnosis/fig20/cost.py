"""CPU seconds (process time, all threads) and wall seconds of one mini ES step (32 pairs,
T=200, chunk 8, half projected) for network variants; 1 compile step then 2 timed steps."""

import resource
import sys
import time

import jax

from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups, build_trainer, run_keys


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


cfgfile, layout = sys.argv[1], sys.argv[2]
TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "%s", "image_size": 7}]' % layout
mini = [
    "meta_train.length=200",
    "meta_train.chunk=8",
    "es.pairs=32",
    "es.learning_rate=0.05",
    "tasks.random_projection_fraction=0.5",
]
cfg = load_config(cfgfile, sets=[TASK] + mini + sys.argv[3:])
tr = build_trainer(cfg, build_groups(cfg))
ik, lk = run_keys(0)
st = tr.init(ik)
st, m = tr.step(st, lk)
jax.block_until_ready(m)
c0, w0 = cpu(), time.time()
for s in range(1, 3):
    st, m = tr.step(st, jax.random.fold_in(lk, s))
    jax.block_until_ready(m)
print(
    f"{cfgfile} {' '.join(sys.argv[3:])}: {(cpu() - c0) / 2:.2f} CPU-s/step, {(time.time() - w0) / 2:.2f} wall-s/step",
    flush=True,
)
