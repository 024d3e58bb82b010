"""VSML: every weight of a network is a tiny LSTM; all LSTMs share one set of meta-parameters.

Faithful to the paper's Eq. 7 / Algorithm 2 and ../shared/REFERENCE.md:

* synapse (a, b) of a layer holds an LSTM state (h, c) of size N;
* its input is concat(forward message into row a, backward message into column b);
* gates (input, cell, forget, output), forget gate +5 and input gate -5 inside the sigmoids;
* two affine maps turn h' into the outgoing forward / backward messages (optionally
  layer-normed), which are *averaged* over the rows / columns;
* each layer ticks ``micro_ticks`` times per example with the same incoming messages;
* layers are ticked in order 1..K (optionally followed by a reverse sweep K..1).

Implementations of a dense layer tick that give the same numbers (to float rounding):

* ``reference``: one sub-LSTM ``vmap``-ed over all (a, b), literally as Eq. 7 reads;
* ``fast-jax``: the input projection of the forward message depends only on a and that of
  the backward message only on b, so both are computed once per row / column (and once
  per example, not per micro tick); without layer norm, averaging commutes with the affine
  message maps, so h' is averaged before the (tiny) projection;
* ``fast`` (the default): ``fast-jax`` with the micro ticks of dense layers run by a fused
  C++ kernel on the CPU (``vsml.kernels``: every synapse's gates stay in registers, no
  [A, B, 4N] array); where that kernel is unavailable (other backends, no compiler,
  ``VSML_FUSED=0``) it is ``fast-jax``.  Conv layers always use the JAX path.  The kernel
  is not differentiable itself: under differentiation the ``fast-jax`` path runs (custom_jvp).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from vsml import kernels
from vsml.episode import squash
from vsml.errors import UserError, check_choice
from vsml.learner import Feedback, PyTree

IMPLEMENTATIONS = ("fast", "fast-jax", "reference")


@dataclasses.dataclass(frozen=True)
class Config:
    """VSML hyper-parameters; defaults are the paper's (meta learning from scratch)."""

    state_size: int = 16  # N
    msg_size: int = 8
    hidden_sizes: tuple[int, ...] = ()  # dense hidden layers; () = one layer A -> B
    conv_channels: tuple[int, ...] = ()  # conv layers before the dense ones
    conv_kernel: int = 3
    conv_stride: int = 2
    micro_ticks: int = 2
    reverse_sweep: bool = False  # extra sweep K..1 per example ("backward pass" option)
    feed_label: bool = False  # backward message into the last layer is [e, label, 0, ...]
    layer_norm: bool = False  # layer norm on every outgoing message
    tanh_bound: float = 100.0  # logits squashed as bound * tanh(y / bound); 0 = off
    output_index: int = 1  # which forward-message entry of the last layer is the logit
    init_rand_proportion: float = 0.5  # fraction of c initialised randomly per episode
    state_clip: float = 0.0  # clip h and c to [-v, v] after each example (cloning); 0 = off
    implementation: str = "fast"

    def __post_init__(self) -> None:
        check_choice("VSML implementation", self.implementation, IMPLEMENTATIONS)
        positive = ("state_size", "msg_size", "micro_ticks", "conv_kernel", "conv_stride")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"VSML config {name} must be >= 1, got {getattr(self, name)}")
        if any(s < 1 for s in self.hidden_sizes + self.conv_channels):
            raise UserError("VSML layer sizes (hidden_sizes, conv_channels) must be >= 1")
        if self.msg_size < 2:
            raise UserError("VSML msg_size must be >= 2 (error and label entries)")
        if not 0 <= self.output_index < self.msg_size:
            raise UserError(f"VSML output_index must be in [0, {self.msg_size - 1}]")
        if not 0.0 <= self.init_rand_proportion <= 1.0:
            raise UserError("VSML init_rand_proportion must be in [0, 1]")
        if self.conv_kernel % 2 == 0:
            raise UserError("VSML conv_kernel must be odd (SAME padding of kernel // 2)")


class DenseShape(NamedTuple):
    inputs: int
    outputs: int


class ConvShape(NamedTuple):
    in_hw: tuple[int, int]
    in_channels: int
    out_channels: int
    kernel: int
    stride: int

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(math.ceil(s / self.stride) for s in self.in_hw)


class LayerState(NamedTuple):
    """One layer's learned state.

    h, c: synapse LSTM states, [A, B, N] (dense) or [K, K, C_in, C_out, N] (conv);
    fwd_in: incoming forward messages per row, [A, M] (conv: [H, W, C_in, M]);
    bwd_in: incoming backward messages per column, [B, M] (conv: [H', W', C_out, M]).
    """

    h: jax.Array
    c: jax.Array
    fwd_in: jax.Array
    bwd_in: jax.Array


class VSMLState(NamedTuple):
    layers: tuple[LayerState, ...]
    step: jax.Array  # number of examples seen (the reverse sweep skips step 0)


def _truncated_normal(key: jax.Array, shape, std: float) -> jax.Array:
    # haiku's TruncatedNormal: truncated at 2 std, rescaled so the std is ``std``
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * (std / 0.87962566103423978)


def _sigmoid(x: jax.Array) -> jax.Array:
    # tanh-based sigmoid: one transcendental, vectorises well on CPU (same value)
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _layer_norm(x: jax.Array, scale: jax.Array, offset: jax.Array) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * scale + offset


def _lstm_update(z: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Gate pre-activations z [..., 4N] (order i, g, f, o) -> new (h, c)."""
    i, g, f, o = jnp.split(z, 4, axis=-1)
    c = _sigmoid(f + 5.0) * c + _sigmoid(i - 5.0) * jnp.tanh(g)
    h = _sigmoid(o) * jnp.tanh(c)
    return h, c


def _messages(params: PyTree, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Outgoing (forward, backward) messages of synapses with hidden state h [..., N]."""
    fwd = h @ params["fwd"]["w"] + params["fwd"]["b"]
    bwd = h @ params["bwd"]["w"] + params["bwd"]["b"]
    if "ln" in params:
        ln = params["ln"]
        fwd = _layer_norm(fwd, ln["fwd_scale"], ln["fwd_offset"])
        bwd = _layer_norm(bwd, ln["bwd_scale"], ln["bwd_offset"])
    return fwd, bwd


def sub_lstm(
    params: PyTree, fwd: jax.Array, bwd: jax.Array, h: jax.Array, c: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """One tick of a single synapse (Eq. 7): messages in [M], [M]; state [N], [N]."""
    z = jnp.concatenate([fwd, bwd, h]) @ params["lstm"]["w"] + params["lstm"]["b"]
    i, g, f, o = jnp.split(z, 4)
    c = jax.nn.sigmoid(f + 5.0) * c + jax.nn.sigmoid(i - 5.0) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    fwd_out, bwd_out = _messages(params, h)
    return fwd_out, bwd_out, h, c


# ---------------------------------------------------------------- dense layer ticks


def dense_tick_reference(
    params: PyTree, layer: LayerState, micro_ticks: int
) -> tuple[jax.Array, jax.Array, LayerState]:
    """Eq. 7 literally: one sub-LSTM vmapped over every synapse (a, b), then averaged."""
    per_row = jax.vmap(sub_lstm, in_axes=(None, None, 0, 0, 0))  # over b
    per_synapse = jax.vmap(per_row, in_axes=(None, 0, None, 0, 0))  # over a
    h, c = layer.h, layer.c
    for _ in range(micro_ticks):
        fwd, bwd, h, c = per_synapse(params, layer.fwd_in, layer.bwd_in, h, c)
    return fwd.mean(axis=0), bwd.mean(axis=1), layer._replace(h=h, c=c)


def _dense_micro_ticks_jax(h, c, row_proj, col_proj, w_h, micro_ticks: int):
    for _ in range(micro_ticks):
        # broadcasting inside the fused update avoids materialising an [A, B, 4N] sum
        h, c = _lstm_update(h @ w_h + row_proj[..., :, None, :] + col_proj[..., None, :, :], c)
    return h, c


def _kernel_with_jax_derivative(kernel, jax_path):
    """``kernel(h, c, a, b, w_h, micro_ticks)`` whose derivative is ``jax_path``'s.

    The C++ kernels have no derivative: under differentiation the JAX path (same function)
    runs, so gradient meta-training costs what ``fast-jax`` costs (a custom_vjp that
    recomputed the JAX path after the kernel measured slower than ``fast-jax``).
    """

    @functools.partial(jax.custom_jvp, nondiff_argnums=(5,))
    def fused(h, c, a, b, w_h, micro_ticks: int):
        return kernel(h, c, a, b, w_h, micro_ticks)

    @fused.defjvp
    def _jvp(micro_ticks, primals, tangents):
        return jax.jvp(lambda *args: jax_path(*args, micro_ticks), primals, tangents)

    return fused


_dense_micro_ticks_fused = _kernel_with_jax_derivative(kernels.dense_ticks,
                                                       _dense_micro_ticks_jax)


def dense_tick_fast(
    params: PyTree, layer: LayerState, micro_ticks: int, fused: bool = False
) -> tuple[jax.Array, jax.Array, LayerState]:
    """Same numbers as ``dense_tick_reference``, exploiting the layer's structure.

    ``fused``: run the micro ticks with the C++ kernel (``vsml.kernels.dense_ticks``).
    """
    w, b = params["lstm"]["w"], params["lstm"]["b"]
    m = layer.fwd_in.shape[-1]
    row_proj = layer.fwd_in @ w[:m] + b  # [A, 4N]: depends on a only
    col_proj = layer.bwd_in @ w[m : 2 * m]  # [B, 4N]: depends on b only
    ticks = _dense_micro_ticks_fused if fused else _dense_micro_ticks_jax
    h, c = ticks(layer.h, layer.c, row_proj, col_proj, w[2 * m :], micro_ticks)
    if "ln" in params:  # layer norm does not commute with the mean: per-synapse messages
        fwd, bwd = _messages(params, h)
        fwd, bwd = fwd.mean(axis=0), bwd.mean(axis=1)
    else:
        fwd, _ = _messages(params, h.mean(axis=0))
        _, bwd = _messages(params, h.mean(axis=1))
    return fwd, bwd, layer._replace(h=h, c=c)


# ----------------------------------------------------------------- conv layer ticks
#
# Every kernel weight (u, v, c_in, c_out) is a synapse.  As in the authors' layers, a
# synapse is ticked once for every output position it takes part in (SAME padding of
# kernel // 2 zeros on both sides, outputs at p * stride); its new state is the mean over
# positions.  The forward message of output (p, q, c_out) is the mean over (u, v, c_in)
# of the synapse messages, padding included; the backward message into input
# (y, x, c_in) is the sum over the kernel offsets that read it of the mean over c_out,
# divided by kernel^2 (positions that no output reads contribute zeros).


def _conv_indices(shape: ConvShape) -> tuple[jax.Array, jax.Array]:
    """Row and column indices (into the padded input) of every (position, offset)."""
    k, s = shape.kernel, shape.stride
    out_h, out_w = shape.out_hw
    rows = (jnp.arange(out_h) * s)[:, None] + jnp.arange(k)[None, :]  # [H', K]
    cols = (jnp.arange(out_w) * s)[:, None] + jnp.arange(k)[None, :]  # [W', K]
    return rows, cols


def _patches(x: jax.Array, shape: ConvShape) -> jax.Array:
    """[H, W, ...] -> [H', W', K, K, ...] with zero SAME padding."""
    pad = shape.kernel // 2
    padded = jnp.pad(x, ((pad, pad), (pad, pad)) + ((0, 0),) * (x.ndim - 2))
    rows, cols = _conv_indices(shape)
    return padded[rows[:, None, :, None], cols[None, :, None, :]]


def _unpatch(p: jax.Array, shape: ConvShape) -> jax.Array:
    """Adjoint of ``_patches``: sum [H', W', K, K, ...] back onto [H, W, ...]."""
    pad = shape.kernel // 2
    height, width = shape.in_hw
    rows, cols = _conv_indices(shape)
    padded = jnp.zeros((height + 2 * pad + shape.stride, width + 2 * pad + shape.stride)
                       + p.shape[4:], p.dtype)
    padded = padded.at[rows[:, None, :, None], cols[None, :, None, :]].add(p)
    return padded[pad : pad + height, pad : pad + width]


def conv_tick_reference(
    params: PyTree, layer: LayerState, micro_ticks: int, shape: ConvShape
) -> tuple[jax.Array, jax.Array, LayerState]:
    """Literal: one sub-LSTM per (position, u, v, c_in, c_out); states averaged over positions."""
    fwd_patches = _patches(layer.fwd_in, shape)  # [H', W', K, K, Cin, M]
    over_cout = jax.vmap(sub_lstm, in_axes=(None, None, 0, 0, 0))
    over_cin = jax.vmap(over_cout, in_axes=(None, 0, None, 0, 0))
    over_v = jax.vmap(over_cin, in_axes=(None, 0, None, 0, 0))
    over_u = jax.vmap(over_v, in_axes=(None, 0, None, 0, 0))
    over_q = jax.vmap(over_u, in_axes=(None, 0, 0, None, None))
    over_positions = jax.vmap(over_q, in_axes=(None, 0, 0, None, None))
    h, c = layer.h, layer.c
    for _ in range(micro_ticks):
        fwd, bwd, h_pos, c_pos = over_positions(params, fwd_patches, layer.bwd_in, h, c)
        h, c = h_pos.mean(axis=(0, 1)), c_pos.mean(axis=(0, 1))
    # fwd, bwd: [H', W', K, K, Cin, Cout, M]
    fwd_out = fwd.mean(axis=(2, 3, 4))
    bwd_out = _unpatch(bwd.mean(axis=5), shape) / shape.kernel**2
    return fwd_out, bwd_out, layer._replace(h=h, c=c)


def _conv_micro_ticks_jax(h, c, in_proj, out_proj, w_h, micro_ticks: int):
    """h, c [R, O, N]; in_proj [P, R, 4N]; out_proj [P, O, 4N] -> h, c, h_pos [P, R, O, N]."""
    msg_proj = in_proj[..., :, :, None, :] + out_proj[..., :, None, :, :]
    for _ in range(micro_ticks):
        h_pos, c_pos = _lstm_update((h @ w_h)[..., None, :, :, :] + msg_proj,
                                    c[..., None, :, :, :])
        h, c = h_pos.mean(axis=-4), c_pos.mean(axis=-4)
    return h, c, h_pos


_conv_micro_ticks_fused = _kernel_with_jax_derivative(kernels.conv_ticks, _conv_micro_ticks_jax)


def conv_tick_fast(
    params: PyTree, layer: LayerState, micro_ticks: int, shape: ConvShape, fused: bool = False
) -> tuple[jax.Array, jax.Array, LayerState]:
    """Same numbers as ``conv_tick_reference`` with per-input / per-output projections.

    ``fused``: run the micro ticks with the C++ kernel (``vsml.kernels.conv_ticks``).
    """
    w, b = params["lstm"]["w"], params["lstm"]["b"]
    m = layer.fwd_in.shape[-1]
    n = layer.h.shape[-1]
    out_h, out_w = shape.out_hw
    positions, rows = out_h * out_w, shape.kernel**2 * shape.in_channels
    cols = shape.out_channels
    # [P, R, 4N]: projections of each position's patch (zero padding projects to 0)
    in_proj = _patches(layer.fwd_in @ w[:m], shape).reshape(positions, rows, 4 * n)
    out_proj = (layer.bwd_in @ w[m : 2 * m] + b).reshape(positions, cols, 4 * n)
    ticks = _conv_micro_ticks_fused if fused else _conv_micro_ticks_jax
    h, c, h_pos = ticks(layer.h.reshape(rows, cols, n), layer.c.reshape(rows, cols, n),
                        in_proj, out_proj, w[2 * m :], micro_ticks)
    h_pos = h_pos.reshape((out_h, out_w) + layer.h.shape)  # [H', W', K, K, Cin, Cout, N]
    if "ln" in params:
        fwd, bwd = _messages(params, h_pos)
        fwd_out, bwd_mean = fwd.mean(axis=(2, 3, 4)), bwd.mean(axis=5)
    else:
        fwd_out, _ = _messages(params, h_pos.mean(axis=(2, 3, 4)))
        _, bwd_mean = _messages(params, h_pos.mean(axis=5))
    bwd_out = _unpatch(bwd_mean, shape) / shape.kernel**2
    return fwd_out, bwd_out, layer._replace(h=h.reshape(layer.h.shape), c=c.reshape(layer.c.shape))


# ------------------------------------------------------------------------- learner


@dataclasses.dataclass(frozen=True)
class VSML:
    """The VSML learner (implements ``vsml.learner.Learner``)."""

    config: Config
    input_shape: tuple[int, ...]
    num_outputs: int
    name: str = "vsml"

    @property
    def layer_shapes(self) -> tuple[DenseShape | ConvShape, ...]:
        cfg = self.config
        shapes: list[DenseShape | ConvShape] = []
        if cfg.conv_channels:
            if len(self.input_shape) != 3:
                raise UserError(
                    f"VSML conv layers need image inputs [H, W, C], got shape {self.input_shape}"
                    " (use input_layout: image)"
                )
            hw, channels = tuple(self.input_shape[:2]), self.input_shape[2]
            for out_channels in cfg.conv_channels:
                conv = ConvShape(hw, channels, out_channels, cfg.conv_kernel, cfg.conv_stride)
                shapes.append(conv)
                hw, channels = conv.out_hw, out_channels
            inputs = hw[0] * hw[1] * channels
        else:
            inputs = math.prod(self.input_shape)
        for size in cfg.hidden_sizes + (self.num_outputs,):
            shapes.append(DenseShape(inputs, size))
            inputs = size
        return tuple(shapes)

    def init_meta_params(self, key: jax.Array) -> PyTree:
        n, m = self.config.state_size, self.config.msg_size
        k_lstm, k_fwd, k_bwd = jax.random.split(key, 3)
        fan_in = 2 * m + n
        params = {
            "lstm": {
                "w": _truncated_normal(k_lstm, (fan_in, 4 * n), 1.0 / math.sqrt(fan_in)),
                "b": jnp.zeros((4 * n,)),
            },
            "fwd": {"w": _truncated_normal(k_fwd, (n, m), 1.0 / math.sqrt(n)), "b": jnp.zeros(m)},
            "bwd": {"w": _truncated_normal(k_bwd, (n, m), 1.0 / math.sqrt(n)), "b": jnp.zeros(m)},
        }
        if self.config.layer_norm:
            params["ln"] = {
                "fwd_scale": jnp.ones(m), "fwd_offset": jnp.zeros(m),
                "bwd_scale": jnp.ones(m), "bwd_offset": jnp.zeros(m),
            }
        return params

    def init_state(self, meta_params: PyTree, key: jax.Array) -> VSMLState:
        cfg = self.config
        n, m = cfg.state_size, cfg.msg_size
        n_rand = int(n * cfg.init_rand_proportion)
        layers = []
        for shape, k in zip(self.layer_shapes, jax.random.split(key, len(self.layer_shapes))):
            if isinstance(shape, DenseShape):
                synapses, fan_in = (shape.inputs, shape.outputs), shape.inputs
                fwd_in = jnp.zeros((shape.inputs, m))
                bwd_in = jnp.zeros((shape.outputs, m))
            else:
                kk = shape.kernel
                synapses, fan_in = (kk, kk, shape.in_channels, shape.out_channels), kk
                fwd_in = jnp.zeros(shape.in_hw + (shape.in_channels, m))
                bwd_in = jnp.zeros(shape.out_hw + (shape.out_channels, m))
            c_rand = _truncated_normal(k, synapses + (n_rand,), 1.0 / math.sqrt(fan_in))
            c = jnp.concatenate([c_rand, jnp.zeros(synapses + (n - n_rand,))], axis=-1)
            layers.append(LayerState(jnp.zeros(synapses + (n,)), c, fwd_in, bwd_in))
        return VSMLState(tuple(layers), jnp.zeros((), jnp.int32))

    def _tick_layer(self, params, layer: LayerState, shape):
        ticks = self.config.micro_ticks
        impl = self.config.implementation
        fast = impl != "reference"
        if isinstance(shape, DenseShape):
            if not fast:
                return dense_tick_reference(params, layer, ticks)
            fused = (impl == "fast" and self.config.state_size <= kernels.MAX_STATE_SIZE
                     and kernels.dense_ticks_available())
            return dense_tick_fast(params, layer, ticks, fused)
        if not fast:
            return conv_tick_reference(params, layer, ticks, shape)
        fused = (impl == "fast" and kernels.conv_ticks_supports(self.config.state_size)
                 and kernels.dense_ticks_available())
        return conv_tick_fast(params, layer, ticks, shape, fused)

    def _sweep(self, params, layers: list[LayerState], reverse: bool):
        """Tick every layer once (1..K, or K..1), passing messages to the neighbours."""
        shapes = self.layer_shapes
        order = range(len(layers) - 1, -1, -1) if reverse else range(len(layers))
        output = None
        for k in order:
            fwd, bwd, layers[k] = self._tick_layer(params, layers[k], shapes[k])
            if k > 0:
                prev = layers[k - 1]
                layers[k - 1] = prev._replace(bwd_in=bwd.reshape(prev.bwd_in.shape))
            if k < len(layers) - 1:
                nxt = layers[k + 1]
                layers[k + 1] = nxt._replace(fwd_in=fwd.reshape(nxt.fwd_in.shape))
            else:
                output = fwd[:, self.config.output_index]
        return layers, output

    def _error_message(self, feedback: Feedback) -> jax.Array:
        m = self.config.msg_size
        label = feedback.label if self.config.feed_label else jnp.zeros_like(feedback.label)
        msg = jnp.stack([feedback.error, label], axis=-1)
        return jnp.pad(msg, ((0, 0), (0, m - 2)))

    def _input_message(self, x: jax.Array, layer: LayerState) -> jax.Array:
        x = x.reshape(layer.fwd_in.shape[:-1])
        return jnp.pad(x[..., None], [(0, 0)] * x.ndim + [(0, self.config.msg_size - 1)])

    def step(
        self, meta_params: PyTree, state: VSMLState, x: jax.Array, feedback: Feedback
    ) -> tuple[jax.Array, VSMLState]:
        cfg = self.config
        layers = list(state.layers)
        error_msg = self._error_message(feedback)
        if cfg.reverse_sweep:
            # the error of example t-1 travels K..1 (with input t-1 still in place) before
            # example t is read; the forward sweep then gets no error (authors' order)
            swept, _ = self._sweep(
                meta_params, layers[:-1] + [layers[-1]._replace(bwd_in=error_msg)], True
            )
            layers = jax.tree_util.tree_map(
                lambda new, old: jnp.where(state.step > 0, new, old), swept, layers
            )
            error_msg = jnp.zeros_like(error_msg)
        layers[0] = layers[0]._replace(fwd_in=self._input_message(x, layers[0]))
        layers[-1] = layers[-1]._replace(bwd_in=error_msg)
        layers, output = self._sweep(meta_params, layers, False)
        if cfg.state_clip:
            v = cfg.state_clip
            layers = [ls._replace(h=jnp.clip(ls.h, -v, v), c=jnp.clip(ls.c, -v, v))
                      for ls in layers]
        logits = squash(output, cfg.tanh_bound)
        return logits, VSMLState(tuple(layers), state.step + 1)


def merge_batch_states(state: VSMLState) -> VSMLState:
    """Average the first half of every h and c over a leading batch axis.

    The paper's analogue of mini-batching (used when cloning backprop with batch > 1):
    the first half of each state vector is shared across the batch, the second half
    (per-example activations and errors) is not.
    """

    def merge(s: jax.Array) -> jax.Array:
        half = s.shape[-1] // 2
        shared = jnp.broadcast_to(s[..., :half].mean(axis=0, keepdims=True), s[..., :half].shape)
        return jnp.concatenate([shared, s[..., half:]], axis=-1)

    layers = tuple(ls._replace(h=merge(ls.h), c=merge(ls.c)) for ls in state.layers)
    return state._replace(layers=layers)


def make_learner(config: Config, input_shape: tuple[int, ...], num_outputs: int) -> VSML:
    """Registry entry point (see ``vsml.methods``)."""
    if num_outputs < 1:
        raise UserError(f"VSML needs at least one output, got {num_outputs}")
    if config.conv_channels and len(input_shape) != 3:
        raise UserError(
            f"VSML conv layers need image inputs [H, W, C], got shape {tuple(input_shape)}"
        )
    return VSML(config, tuple(int(s) for s in input_shape), int(num_outputs))
