"""`kinesis-export demo` with a FIFO config: the samples go to a FIFO ingest queue, each with its profile as
MessageGroupId, and the poller takes them ten at a time, as Lambda does from a FIFO queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import EXAMPLE_CONFIG, ROOT


def _demo(config: Path, events: Path) -> subprocess.CompletedProcess[str]:
    # A process of its own: the demo starts moto's server in its process and sets its environment.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambdas")}
    command = [sys.executable, "-m", "kinesis_export", "demo", "--config", str(config), "--events", str(events)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_demo_with_a_fifo_config_exports_the_samples_in_batches_of_ten(tmp_path: Path) -> None:
    # given the example with ingest.fifo, and the samples twice over (14 messages: more than one batch)
    config = tmp_path / "fifo.json"
    config.write_text(json.dumps(json.loads(EXAMPLE_CONFIG.read_text()) | {"ingest": {"fifo": True}}))
    events = tmp_path / "events"
    events.mkdir()
    for sample in (ROOT / "events").glob("sqs-*.json"):
        for copy in ("a", "b"):
            # content-based deduplication would take a second identical body as the first: each copy is its own
            document = json.loads(sample.read_text())
            for record in document["Records"]:
                record["body"] += " " if copy == "b" else ""
            (events / f"{copy}-{sample.name}").write_text(json.dumps(document))

    run = _demo(config, events)

    # then it succeeds, the queue being FIFO and the poller taking two batches
    assert run.returncode == 0, run.stderr
    assert "sent 14 messages to the FIFO ingest queue, each with its profile as MessageGroupId" in run.stdout
    assert "14 messages (20 events) in 2 Lambda batches: 12 exported" in run.stdout, run.stdout[-600:]
