"""Shared test setup: CPU only, and a persistent XLA compilation cache across tests."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

_default_cache = os.path.join(tempfile.gettempdir(), "vsml-test-jax-cache")
_cache = os.environ.get("VSML_TEST_JAX_CACHE", _default_cache)
jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
