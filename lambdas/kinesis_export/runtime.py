"""How the functions use CPython's cyclic garbage collector: out of the way of a batch.

A batch of 10,000 messages makes hundreds of thousands of short-lived dictionaries and
lists, which reference counting frees without help, while the collector's full passes
walk every live object: the SDK's service models, the Lambda event, the batch. Measured with
`make bench`, one such pass cost 5 to 8 µs per event of a 10,000-message batch.
So what start-up made is frozen (never walked again), and the collector is paused while
a batch is worked on and resumed after it, when it frees whatever cycles the batch left.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def started() -> None:
    """Call at the end of a handler module's start-up: what it made lives as long as the container."""
    gc.freeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while the block runs (left as it was if already off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
