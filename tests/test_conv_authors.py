"""The conv VSML (config/conv.yaml, Fig. 20) against the authors' formulation of it.

The authors build a 2-D VSML conv layer from nested 1-D ones: a conv over the height whose
"synapse" is a conv over the width whose synapse is a dense VSML layer over (c_in, c_out).
Each 1-D level pads by kernel // 2, gathers the patch of every output position, ticks
(position x offset) with the state shared over positions, averages the new state over
positions and the forward messages over the kernel offsets.  Then their tick order: forward
sweep with (x_t, e_{t-1}), and with the reverse sweep on, a sweep K..1 right after each
prediction with (x_t, e_t), after which the forward sweep sees no error.

This file restates that formulation independently of vsml/model.py (whose conv path is a
flattened per-position rewrite) and checks that both give the same logits over an episode,
with the options of conv.yaml, at 7x7 (the `mini` input size) and at an even size.  It was
written while diagnosing Fig. 20's conv VSML at chance (docs/diagnosis.md, "Fig. 20"): it
pins the conv forward pass to the authors' semantics, so a failed meta-training can be
told from a wrong network.  (With one conv layer the conv layer's backward messages go
nowhere, so the port leaves them out.)
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vsml.episode import Episode, run_episode
from vsml.model import VSML, Config, DenseShape

State = collections.namedtuple("State", "h c")


def _sub_rnn(p, cfg):
    def ln(x, scale, offset):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * scale + offset

    def tick(fwd, bwd, st):
        z = jnp.concatenate([fwd, bwd, st.h], -1) @ p["lstm"]["w"] + p["lstm"]["b"]
        i, g, f, o = jnp.split(z, 4, -1)
        c = jax.nn.sigmoid(f + 5) * st.c + jax.nn.sigmoid(i - 5) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        out_f, out_b = h @ p["fwd"]["w"] + p["fwd"]["b"], h @ p["bwd"]["w"] + p["bwd"]["b"]
        if cfg.layer_norm:
            out_f = ln(out_f, p["ln"]["fwd_scale"], p["ln"]["fwd_offset"])
            out_b = ln(out_b, p["ln"]["bwd_scale"], p["ln"]["bwd_offset"])
        return out_f, out_b, State(h, c)

    return tick


def _dense(sub, fwd, bwd, st):
    """fwd [A, M], bwd [B, M], state [A, B, N] -> mean over A / over B."""
    f, b, st = jax.vmap(jax.vmap(sub, (None, 0, 0)), (0, None, 0))(fwd, bwd, st)
    return f.mean(0), b.mean(1), st


def _conv_axis(base, fwd, bwd, st, stride):
    """One 1-D conv level over axis 0 (forward messages and state only)."""
    k = st.h.shape[0]
    padded = jnp.pad(fwd, ((k // 2, k // 2),) + ((0, 0),) * (fwd.ndim - 1))
    starts = range(0, padded.shape[0] - k + 1, stride)
    patches = jnp.stack([padded[s : s + k] for s in starts])  # [positions, K, ...]
    over_offsets = jax.vmap(base, (0, None, 0))
    f, _, st = jax.vmap(over_offsets, (0, 0, None))(patches, bwd, st)
    return f.mean(1), None, jax.tree_util.tree_map(lambda s: s.mean(0), st)


def _conv2d(sub, fwd, bwd, st, stride):
    def width(f, b, s):
        return _conv_axis(lambda *a: _dense(sub, *a), f, b, s, stride)

    return _conv_axis(width, fwd, bwd, st, stride)


def _authors_logits(params, learner, cells, xs, labels):
    cfg, shapes = learner.config, learner.layer_shapes
    sub, m = _sub_rnn(params, cfg), cfg.msg_size
    layers = []
    for shape, c in zip(shapes, cells):
        if isinstance(shape, DenseShape):
            fwd, bwd = jnp.zeros((shape.inputs, m)), jnp.zeros((shape.outputs, m))
        else:
            fwd = jnp.zeros(shape.in_hw + (shape.in_channels, m))
            bwd = jnp.zeros(shape.out_hw + (shape.out_channels, m))
        layers.append({"st": State(jnp.zeros_like(c), c), "fwd": fwd, "bwd": bwd})

    def sweep(error, x, reverse):
        layers[0]["fwd"] = jnp.pad(x[..., None], [(0, 0)] * x.ndim + [(0, m - 1)])
        layers[-1]["bwd"] = jnp.pad(error, ((0, 0), (0, m - 2)))
        out = None
        order = range(len(layers) - 1, -1, -1) if reverse else range(len(layers))
        for i in order:
            layer, shape, st = layers[i], shapes[i], layers[i]["st"]
            for _ in range(cfg.micro_ticks):  # same incoming messages, state carried
                if isinstance(shape, DenseShape):
                    f, b, st = _dense(sub, layer["fwd"], layer["bwd"], st)
                else:
                    f, b, st = _conv2d(sub, layer["fwd"], layer["bwd"], st, shape.stride)
            layer["st"] = st
            if i > 0:
                layers[i - 1]["bwd"] = b.reshape(layers[i - 1]["bwd"].shape)
            if i < len(layers) - 1:
                layers[i + 1]["fwd"] = f.reshape(layers[i + 1]["fwd"].shape)
            else:
                out = cfg.tanh_bound * jnp.tanh(f[:, cfg.output_index] / cfg.tanh_bound)
        return out

    error, logits = jnp.zeros((learner.num_outputs, 2)), []
    for x, label in zip(xs, labels):
        out = sweep(error, x, False)
        onehot = jax.nn.one_hot(label, learner.num_outputs)
        fed = onehot if cfg.feed_label else jnp.zeros_like(onehot)
        error = jnp.stack([jax.nn.softmax(out) - onehot, fed], -1)
        if cfg.reverse_sweep:
            sweep(error, x, True)
            error = jnp.zeros_like(error)
        logits.append(out)
    return jnp.stack(logits)


@pytest.mark.parametrize(("hw", "implementation"), [(7, "fast"), (6, "reference")])
def test_conv_vsml_equals_the_authors_nested_conv(hw, implementation):
    config = Config(conv_channels=(8,), conv_kernel=3, conv_stride=2, reverse_sweep=True,
                    feed_label=True, layer_norm=True, implementation=implementation)
    learner = VSML(config, (hw, hw, 1), 10)
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    params = learner.init_meta_params(k[0])
    leaves, tree = jax.tree_util.tree_flatten(params)
    noise = jax.random.split(k[1], len(leaves))  # away from the near-silent initialisation
    params = tree.unflatten(
        [p + 0.5 * jax.random.normal(n, p.shape) for p, n in zip(leaves, noise)])
    state = learner.init_state(params, k[2])
    steps = 6
    xs = jax.random.normal(k[3], (steps, hw, hw, 1))
    ys = jax.random.randint(jax.random.fold_in(k[3], 1), (steps,), 0, 10)

    class FixedStart(VSML):  # the same initial cells for both
        def init_state(self, meta_params, key):
            return state

    fixed = FixedStart(config, learner.input_shape, learner.num_outputs)
    ours = jax.jit(lambda p: run_episode(fixed, p, Episode(xs, ys), k[2]).logits)(params)
    cells = [layer.c for layer in state.layers]
    # eager on purpose: under jit, XLA CPU (jaxlib 0.10.2) segfaults on this nested formulation,
    # as it does on the authors' own jitted code
    theirs = _authors_logits(params, learner, cells, xs, ys)
    assert float(jnp.abs(theirs).max()) > 0.1  # not a comparison between zeros
    assert float(jnp.abs(theirs[1:] - theirs[:-1]).max()) > 1e-5  # the state moves
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
