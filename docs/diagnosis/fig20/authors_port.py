"""Our conv VSML vs the authors' layer code (vsml_layers.py imported UNMODIFIED from their
repository, with haiku's vmap replaced by jax.vmap, which is what hk.vmap does for a
parameter-free call) and a line-by-line port of their VSMLRNN._tick / scan_tick (models.py).
Same meta-parameters, same initial cells, same inputs -> compare the logits of every step."""

import collections
import sys
import types

import jax
import jax.numpy as jnp

LSTMState = collections.namedtuple("LSTMState", "hidden cell")
hk = types.ModuleType("haiku")
hk.vmap = lambda f, in_axes=0, **kw: jax.vmap(f, in_axes=in_axes)
hk.LSTMState = LSTMState
sys.modules["haiku"] = hk
if not hasattr(jax, "tree_map"):
    jax.tree_map = jax.tree_util.tree_map  # API shim (as bench_vsml.py)
sys.path.insert(0, sys.argv[1])  # their src/ (git archive of the repository)
import vsml_layers  # noqa: E402  (authors', unmodified)

from vsml.episode import Episode, run_episode  # noqa: E402
from vsml.model import VSML, Config, DenseShape  # noqa: E402


def authors_forward(p, specs, cells, images, labels, cfg):
    """Port of models.VSMLRNN.__call__ (batch 1) with SubRNN / CustomLSTM (recurrent.py)."""
    M, N = cfg.msg_size, cfg.state_size

    def ln(x, s, o):
        mean = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * s + o

    def sub_rnn(fwd_msg, bwd_msg, st):
        x_and_h = jnp.concatenate([fwd_msg, bwd_msg, st.hidden], -1)
        i, g, f, o = jnp.split(x_and_h @ p["lstm"]["w"] + p["lstm"]["b"], 4, -1)
        c = jax.nn.sigmoid(f + 5) * st.cell + jax.nn.sigmoid(i - 5) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        fm = h @ p["fwd"]["w"] + p["fwd"]["b"]
        bm = h @ p["bwd"]["w"] + p["bwd"]["b"]
        if cfg.layer_norm:
            fm = ln(fm, p["ln"]["fwd_scale"], p["ln"]["fwd_offset"])
            bm = ln(bm, p["ln"]["bwd_scale"], p["ln"]["bwd_offset"])
        return fm, bm, LSTMState(h, c)

    def tick(ls, error, inp, reverse):
        if isinstance(specs[0], DenseShape):
            inp = inp.flatten()
        ls = [dict(d) for d in ls]
        ls[0]["fwd"] = jnp.pad(inp[..., None], (*[(0, 0)] * inp.ndim, (0, M - 1)))
        ls[-1]["bwd"] = jnp.pad(error, ((0, 0), (0, M - 2)))
        output = None
        it = list(enumerate(zip(ls, specs)))
        for i, (l, spec) in reversed(it) if reverse else it:
            st, fm, bm = l["st"], l["fwd"], l["bwd"]
            for _ in range(cfg.micro_ticks):
                if isinstance(spec, DenseShape):
                    out = vsml_layers.dense(sub_rnn, jnp.mean, fm, bm, st)
                else:
                    out = vsml_layers.conv2d(sub_rnn, jnp.mean, fm, bm, st, stride=spec.stride)
                nf, nb, st = out
            l["st"] = st
            if i > 0:
                ls[i - 1]["bwd"] = nb.reshape(ls[i - 1]["bwd"].shape)
            if i < len(ls) - 1:
                ls[i + 1]["fwd"] = nf.reshape(ls[i + 1]["fwd"].shape)
            else:
                output = nf[:, cfg.output_index]
                output = jnp.tanh(output / cfg.tanh_bound) * cfg.tanh_bound
        return ls, output

    ls = []
    for spec, c in zip(specs, cells):
        if isinstance(spec, DenseShape):
            fshape, bshape = (spec.inputs, M), (spec.outputs, M)
        else:
            fshape, bshape = (
                spec.in_hw + (spec.in_channels, M),
                spec.out_hw + (spec.out_channels, M),
            )
        ls.append(
            dict(st=LSTMState(jnp.zeros_like(c), c), fwd=jnp.zeros(fshape), bwd=jnp.zeros(bshape))
        )
    error = jnp.zeros((labels.shape[-1], 2))
    outs = []
    for t in range(images.shape[0]):
        inp, label = images[t], labels[t]
        ls, out = tick(ls, error, inp, False)
        e = jax.grad(lambda z: -jnp.sum(label * jax.nn.log_softmax(z)))(out)
        lab = label if cfg.feed_label else jnp.zeros_like(label)
        error = jnp.stack([e, lab], -1)
        if cfg.reverse_sweep:
            ls, _ = tick(ls, error, inp, True)
            error = jnp.zeros_like(error)
        outs.append(out)
    return jnp.stack(outs)


def compare(cfg, hw, T=12, seed=0, classes=10):
    learner = VSML(cfg, (hw, hw, 1), classes)
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    mp = learner.init_meta_params(k[0])
    mp = jax.tree_util.tree_map(lambda a: a + 0.5 * jax.random.normal(k[1], a.shape), mp)
    state = learner.init_state(mp, k[2])
    cells = [l.c for l in state.layers]
    x = jax.random.normal(k[3], (T, hw, hw, 1))
    y = jax.random.randint(jax.random.fold_in(k[3], 1), (T,), 0, classes)
    # ours, with this very initial state
    learner_fixed = dataclasses_replace_init(learner, state)
    ours = run_episode(learner_fixed, mp, Episode(x, y), k[2]).logits
    theirs = authors_forward(mp, learner.layer_shapes, cells, x, jax.nn.one_hot(y, classes), cfg)
    return (
        float(jnp.abs(ours - theirs).max()),
        float(jnp.abs(theirs).max()),
        float(theirs.std(0).mean()),
    )


def dataclasses_replace_init(learner, state):
    class Fixed(VSML):
        def init_state(self, meta_params, key):
            return state

    return Fixed(learner.config, learner.input_shape, learner.num_outputs)


if __name__ == "__main__":
    base = dict(conv_channels=(8,), conv_kernel=3, conv_stride=2)
    for name, kw in [
        (
            "conv.yaml (reverse, feed-label, LN)",
            dict(reverse_sweep=True, feed_label=True, layer_norm=True),
        ),
        ("conv, no options", {}),
        ("conv, LN only", dict(layer_norm=True)),
        ("conv, reverse only", dict(reverse_sweep=True)),
    ]:
        for impl in ["fast", "reference"]:
            for hw in [5, 7]:
                cfg = Config(**base, **kw, implementation=impl)
                print(
                    f"{name:38s} {impl:9s} {hw}x{hw}: max|ours-theirs| %.2e  max|logit| %.3g  std_t %.3g"
                    % compare(cfg, hw),
                    flush=True,
                )
    cfg = Config(reverse_sweep=True, feed_label=True, layer_norm=True)
    print(
        "dense, conv.yaml options 7x7: max|ours-theirs| %.2e  max|logit| %.3g std_t %.3g"
        % compare(cfg, 7)
    )
