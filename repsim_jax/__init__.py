"""repsim_jax: representational similarity, identifiability bounds and distillation in JAX."""

import os

import jaxlib


def _disable_cpu_concurrent_scheduler() -> None:
    """Works around an XLA:CPU deadlock in jaxlib 0.10.x.

    With the concurrency-optimised thunk scheduler, a compiled ``lax.map`` over small
    batched matmuls (e.g. the rep–logit bound over model pairs) was seen to stop forever
    at 0% CPU after a few calls, every thread waiting (this project, jaxlib 0.10.2, 2-core
    CPU). Turning the scheduler off removed the hang and did not slow the kernels
    measured. XLA reads ``XLA_FLAGS`` when the backend starts, so this must run before
    the first computation; a value set by the user is kept.
    """
    flag = "--xla_cpu_enable_concurrency_optimized_scheduler"
    flags = os.environ.get("XLA_FLAGS", "")
    if jaxlib.__version__.startswith("0.10.") and flag not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}=false".strip()


_disable_cpu_concurrent_scheduler()

__version__ = "0.1.0"
