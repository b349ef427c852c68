"""A fault-injecting HTTP proxy in front of moto's server, for Kinesis PutRecords.

Every PutRecords call waits `latency` seconds first, as if the service were that far away, and
`answer_latency` seconds after moto wrote its records, before answering (a late answer: the
records are on the stream, the writer does not know it yet). An action named in `delays` waits
that long before it is forwarded (a slow SQS, say). Every request is recorded (`requests`:
action, access key it was signed with, body), and an action named in `denied` (or a request
`denied_when(action, body)` says so of: one profile's PutItem, say) is answered AccessDenied, as
IAM would, in the protocol's own format. `quiet` waits until no request is
being handled (a call abandoned at a deadline may still be on its way).

Requests pass through unchanged unless the test's `fault` function, asked once per
PutRecords call, says otherwise:
- EntryFaults: those entries are answered with an ErrorCode and are NOT forwarded, as on
  AWS (a failed entry is not on the stream); the others are written by moto;
- CallFault: the whole call is answered with that HTTP status and error, nothing written;
- Disconnect: the connection is closed without an answer, nothing written;
- DropAfterWrite: moto writes the records, then the connection is closed without an answer;
- Drip: moto writes the records, then the answer comes one byte every `interval` seconds, so
  that no single read waits long enough for a read timeout.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class EntryFaults:
    codes: dict[int, str]  # position in the call -> ErrorCode


@dataclass(frozen=True)
class CallFault:
    status: int
    code: str


@dataclass(frozen=True)
class Disconnect:
    pass


@dataclass(frozen=True)
class DropAfterWrite:
    """The records are written, then the connection drops: the ambiguous timeout behind duplicates."""


@dataclass(frozen=True)
class GarbledAnswer:
    """The records are written, then an answer arrives with this status and body (by default a 200 whose
    body is cut short)."""

    body: bytes | None = None
    status: int = 200


@dataclass(frozen=True)
class Drip:
    """The records are written, then the answer trickles in a byte at a time."""

    interval: float = 0.2


Fault = EntryFaults | CallFault | Disconnect | DropAfterWrite | GarbledAnswer | Drip | None


@dataclass
class FaultProxy:
    upstream: str
    fault: Callable[[int, list[dict[str, Any]]], Fault] = lambda call, entries: None
    latency: float = 0.0
    answer_latency: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    denied_when: Callable[[str, bytes], bool] = lambda action, body: False
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    put_records_calls: int = 0
    injected: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.stopped = threading.Event()
        proxy = self
        upstream = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go as two writes: no 40 ms wait for an ACK between

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with proxy._lock:
                    proxy._in_flight += 1
                try:
                    self._handle()
                finally:
                    with proxy._lock:
                        proxy._in_flight -= 1

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                action = target.rpartition(".")[2] if target else parse_qs(body.decode()).get("Action", [""])[0]
                signer = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
                proxy.requests.append((action, signer.group(1) if signer else "", body))
                if action in proxy.denied or proxy.denied_when(action, body):
                    self._deny(action, json_protocol=bool(target))
                    return
                time.sleep(proxy.delays.get(action, 0.0))
                fault: Fault = None
                request: dict[str, Any] = {}
                if self.headers.get("X-Amz-Target", "").endswith(".PutRecords"):
                    request = json.loads(body)
                    with proxy._lock:
                        proxy.put_records_calls += 1
                        call = proxy.put_records_calls
                    fault = proxy.fault(call, request["Records"])
                    if fault is not None:
                        proxy.injected.append(fault)
                    time.sleep(proxy.latency)
                if isinstance(fault, DropAfterWrite):
                    self._forward(body)
                if isinstance(fault, Disconnect | DropAfterWrite):
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(fault, Drip):
                    status, answer = self._forward(body)
                    self._answer(status, answer, drip=fault.interval)
                    return
                if isinstance(fault, GarbledAnswer):
                    _, answer = self._forward(body)
                    self._answer(fault.status, answer[: len(answer) // 2] if fault.body is None else fault.body)
                    return
                if isinstance(fault, CallFault):
                    self._answer(fault.status, json.dumps({"__type": fault.code, "message": "injected"}).encode())
                    return
                if isinstance(fault, EntryFaults):
                    self._put_some(request, fault.codes)
                    return
                status, answer = self._forward(body)
                if request:
                    time.sleep(proxy.answer_latency)
                self._answer(status, answer)

            def _put_some(self, request: dict[str, Any], codes: dict[int, str]) -> None:
                entries = request["Records"]
                kept = [entry for position, entry in enumerate(entries) if position not in codes]
                written: list[dict[str, Any]] = []
                if kept:
                    status, answer = self._forward(json.dumps({**request, "Records": kept}).encode())
                    if status != 200:
                        self._answer(status, answer)
                        return
                    written = json.loads(answer)["Records"]
                results = iter(written)
                records = [
                    {"ErrorCode": codes[position], "ErrorMessage": "injected"} if position in codes else next(results)
                    for position in range(len(entries))
                ]
                self._answer(200, json.dumps({"FailedRecordCount": len(codes), "Records": records}).encode())

            def _forward(self, body: bytes) -> tuple[int, bytes]:
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
                headers["Content-Length"] = str(len(body))
                connection.request("POST", self.path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                connection.close()
                return response.status, answer

            def _deny(self, action: str, *, json_protocol: bool) -> None:
                message = f"User is not authorized to perform: {action}"
                if json_protocol:
                    self._answer(400, json.dumps({"__type": "AccessDeniedException", "message": message}).encode())
                else:
                    error = (
                        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                        f"<Message>{message}</Message></Error></ErrorResponse>"
                    )
                    self._answer(403, error.encode(), "text/xml")

            def _answer(
                self, status: int, body: bytes, content_type: str = "application/x-amz-json-1.1", drip: float = 0.0
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not drip:
                    self.wfile.write(body)
                    return
                for byte in range(len(body)):
                    if proxy.stopped.is_set():
                        return
                    self.wfile.write(body[byte : byte + 1])
                    self.wfile.flush()
                    time.sleep(drip)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def quiet(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (within `timeout` seconds); whether it is so."""
        ends = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < ends:
            time.sleep(0.002)
        return not self._in_flight

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
