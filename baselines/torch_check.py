"""Independent PyTorch implementation of the online SGD/Adam baselines (cross-check only).

Used by ``tests/test_torch_crosscheck.py`` to confirm that the JAX learners in
``baselines/online.py`` produce the same prediction trajectory as a plain
``torch.optim`` loop.  PyTorch is optional and imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def online_predictions(
    params: Sequence[dict[str, np.ndarray]],
    xs: np.ndarray,
    ys: np.ndarray,
    optimizer: str,
    learning_rate: float,
    tanh_bound: float | None = 100.0,
) -> np.ndarray:
    """Logits [T, O] of an online MLP trained with torch.optim, predicting before updating.

    params: per layer ``{"w": [in, out], "b": [out]}`` (the initial weights);
    xs: [T, D] flattened inputs; ys: [T] integer labels.  Hidden layers use tanh
    and the output is squashed as ``bound * tanh(y / bound)``.
    """
    import torch

    weights = [torch.tensor(np.asarray(p["w"]), dtype=torch.float32, requires_grad=True)
               for p in params]
    biases = [torch.tensor(np.asarray(p["b"]), dtype=torch.float32, requires_grad=True)
              for p in params]
    variables = [v for pair in zip(weights, biases, strict=True) for v in pair]
    if optimizer == "sgd":
        opt = torch.optim.SGD(variables, lr=learning_rate)
    elif optimizer == "adam":
        opt = torch.optim.Adam(variables, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: sgd, adam")

    def forward(x: torch.Tensor) -> torch.Tensor:
        h = x
        for w, b in zip(weights[:-1], biases[:-1], strict=True):
            h = torch.tanh(h @ w + b)
        out = h @ weights[-1] + biases[-1]
        if tanh_bound:
            out = tanh_bound * torch.tanh(out / tanh_bound)
        return out

    predictions = []
    for x, y in zip(np.asarray(xs, np.float32), np.asarray(ys, np.int64), strict=True):
        logits = forward(torch.from_numpy(x))
        predictions.append(logits.detach().numpy().copy())
        loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([int(y)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return np.stack(predictions)
