"""The minimal vanilla-RNN form of VSML (paper Eq. 4) and its single-RNN equivalent (Eq. 5, 6).

Theorem 1 (Appendix A): one tick of A x A sub-RNNs with shared W (self) and C (messages),
s_abj <- sigma(sum_i s_abi W_ij + sum_{c,i} s_cai C_ij), equals one tick of a single RNN
over the flattened state with the sparse, shared matrix W~ of Eq. 6.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def minimal_vsml_tick(w: jax.Array, c: jax.Array, state: jax.Array) -> jax.Array:
    """Eq. 4 (= Eq. 8): state [A, A, N]; the message into (a, b) comes from row a's sources."""
    self_term = jnp.einsum("abi,ij->abj", state, w)
    message_term = jnp.einsum("cai,ij->aj", state, c)[:, None, :]  # same for every b
    return jnp.tanh(self_term + message_term)


def sparse_shared_matrix(w: jax.Array, c: jax.Array, size: int) -> jax.Array:
    """W~ of Eq. 6, shape [A, A, N, A, A, N] (indices c, d, i, a, b, j)."""
    idx = jnp.arange(size)
    cc, dd, aa, bb = jnp.meshgrid(idx, idx, idx, idx, indexing="ij")  # c, d, a, b
    d_is_a = dd == aa
    self_link = (dd == bb) & (cc == aa)
    c_mask = d_is_a  # C_ij wherever d = a (covers the "C + W" case together with W below)
    w_mask = self_link
    w_t = (
        c_mask[:, :, None, :, :, None] * c[None, None, :, None, None, :]
        + w_mask[:, :, None, :, :, None] * w[None, None, :, None, None, :]
    )
    return w_t.astype(w.dtype)


def single_rnn_tick(w_tilde: jax.Array, state: jax.Array) -> jax.Array:
    """Eq. 5 (= Eq. 9): one standard RNN tick over the flattened state."""
    return jnp.tanh(jnp.einsum("cdi,cdiabj->abj", state, w_tilde))
