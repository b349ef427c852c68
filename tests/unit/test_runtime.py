import gc

import pytest

from kinesis_export import runtime


def test_the_collector_is_paused_inside_a_batch_and_running_again_after_it() -> None:
    assert gc.isenabled()
    with runtime.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_runs_again_after_a_batch_that_raised() -> None:
    with pytest.raises(RuntimeError), runtime.collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with runtime.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_start_up_made_is_frozen_out_of_collections() -> None:
    made_at_start_up = [{"model": n} for n in range(100)]
    try:
        runtime.started()
        assert gc.get_freeze_count() >= len(made_at_start_up)
    finally:
        gc.unfreeze()
