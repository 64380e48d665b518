"""Keep Python's cyclic garbage collector off the heap a long-lived process imported.

A process that has imported the MLflow stack (SQLAlchemy, pandas, alembic), matplotlib and the OpenAI SDK
holds about 450,000 objects that live as long as it does. Every full collection (generation 2) walks all of
them: 0.3-0.4 s of CPU on a 2-core machine, and on the local runner one came in every other training step
(issue 14). `freeze_heap` collects the garbage there is now, then moves every object still alive to the
permanent generation (`gc.freeze`), so that later collections walk only what was made after it. Python's
documentation advises it before fork() without exec(), as the warm worker forks its steps: a child's
collection then neither walks the heap it inherited nor writes to its pages (copy-on-write).

Frozen objects are still freed by reference counting; only a garbage cycle among them stays until
`gc.unfreeze()`. So it is called only in processes agenthpo owns (the warm worker, the `tune` driver), at
points where the heap holds what lives on: imports, an opened store, the worker's view of the study.
"""

from __future__ import annotations

import gc


def freeze_heap() -> None:
    """Collect the garbage there is, then exempt every object still alive from later collections."""
    gc.collect()
    gc.freeze()
