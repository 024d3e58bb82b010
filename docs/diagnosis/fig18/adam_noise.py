"""Adam (b1 0.9, b2 0.999) fed pure N(0, 1) noise: rms displacement after n steps = lr*sqrt(n).

    python docs/diagnosis/fig18/adam_noise.py
"""

import numpy as np

rng, d, lr, b1, b2 = np.random.default_rng(0), 20000, 0.01, 0.9, 0.999
for n in (500, 2500):
    m, v, theta = np.zeros(d), np.zeros(d), np.zeros(d)
    for t in range(1, n + 1):
        g = rng.normal(size=d)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        theta -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
    print(f"{n} steps at lr {lr}: rms displacement {np.sqrt(np.mean(theta ** 2)):.3f}, "
          f"lr*sqrt(n) = {lr * np.sqrt(n):.3f}")
