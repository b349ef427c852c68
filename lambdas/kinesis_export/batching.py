"""Splitting items into API calls that respect a count limit and a size limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def batches(items: Iterable[T], size_of: Callable[[T], int], max_items: int, max_bytes: int) -> Iterator[list[T]]:
    """Consecutive batches, in order, of at most max_items and max_bytes (an oversized item goes alone)."""
    batch: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item)
        if batch and (len(batch) == max_items or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
