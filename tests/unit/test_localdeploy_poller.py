"""What `make local-deploy`'s poller returns to the queue after an invocation, as Lambda's SQS poller does."""

from __future__ import annotations

from typing import Any

import pytest

from kinesis_export_cli.localdeploy import failed_messages

IDS = ["m1", "m2", "m3"]


def test_without_partial_responses_a_returned_answer_deletes_the_whole_batch() -> None:
    # given a mapping without ReportBatchItemFailures, and a function that names a failed message
    answer = {"batchItemFailures": [{"itemIdentifier": "m2"}]}

    # when the invocation returns, then Lambda ignores the answer: nothing comes back
    assert failed_messages(answer, IDS, report_batch_item_failures=False) == set()


def test_with_partial_responses_only_the_named_messages_come_back() -> None:
    answer = {"batchItemFailures": [{"itemIdentifier": "m2"}]}

    assert failed_messages(answer, IDS, report_batch_item_failures=True) == {"m2"}


@pytest.mark.parametrize("answer", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_with_partial_responses_an_empty_answer_is_a_success(answer: Any) -> None:
    assert failed_messages(answer, IDS, report_batch_item_failures=True) == set()


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"id": "m1"}]},
        {"batchItemFailures": ["m1"]},
        {"batchItemFailures": "m1"},
        ["m1"],
    ],
)
def test_with_partial_responses_an_answer_lambda_cannot_read_fails_the_whole_batch(answer: Any) -> None:
    assert failed_messages(answer, IDS, report_batch_item_failures=True) == set(IDS)
