"""Calls abandoned at a deadline leave their threads behind: how many is bounded.

Found by an adversarial review: a dripped answer never times out (each byte resets the read timeout),
and every invocation that met such a call left its workers behind, in a container that lives for hours.
Lambda allows 1,024 threads a function; once they were used up, starting a call raised RuntimeError
("can't start new thread") and every batch the container took failed.
"""

from __future__ import annotations

import threading

from kinesis_export.deadline import MAX_ABANDONED, NOT_STARTED, Calls, Deadline


def test_threads_left_in_abandoned_calls_are_bounded_and_later_calls_fail_instead():
    stuck = threading.Event()
    calls = Calls(4, "drip")
    before = threading.active_count()
    try:
        # 50 invocations, each meeting 4 calls that never answer (a drip), each waiting 10 ms
        for _ in range(50):
            calls.run(lambda _: stuck.wait(30), range(4), Deadline.after(0.01))
        leaked = threading.active_count() - before
        refused = calls.run(lambda _: "answered", range(2), Deadline.after(1))
    finally:
        stuck.set()

    assert leaked <= MAX_ABANDONED + 4, f"{leaked} threads left behind by 50 invocations"
    assert refused == [NOT_STARTED, NOT_STARTED]


def test_calls_start_again_once_the_abandoned_ones_have_ended():
    stuck = threading.Event()
    calls = Calls(4, "drip")
    for _ in range(MAX_ABANDONED // 4 + 1):
        calls.run(lambda _: stuck.wait(30), range(4), Deadline.after(0.01))
    stuck.set()
    for thread in threading.enumerate():
        if thread.name.startswith("drip"):
            thread.join(timeout=5)

    assert calls.run(lambda item: item * 2, [1, 2], Deadline.after(1)) == [2, 4]
