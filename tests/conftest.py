"""Shared test setup: CPU only, and a persistent XLA compilation cache across tests."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("VSML_TEST_JAX_CACHE", os.path.join(tempfile.gettempdir(), "vsml-test-jax-cache")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
