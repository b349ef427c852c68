"""PutRecords with the request body and the answer handled here, the rest by botocore.

botocore's serializer and parser are driven by the service model: they walk each entry of
a 500-record call in Python, field by field, and with parameter validation that is more
than half of the SDK's CPU per record (`make bench`). A PutRecords body is plain JSON with
the data base64-encoded, and its answer a list of entries, so both are written and read
here in one pass each. Everything else is botocore's: the credentials and their refresh,
SigV4 signing, the HTTP session, timeouts, proxies and its exceptions; the endpoint is the
one botocore would use (see `credentials.kinesis_endpoint`). Every other Kinesis call goes
through the ordinary client.
"""

from __future__ import annotations

import json
import os
import socket
from binascii import b2a_base64
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _json_string  # a str as a JSON string, quotes included
from typing import TYPE_CHECKING, Any

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, NoCredentialsError, ResponseStreamingError
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

if TYPE_CHECKING:
    from botocore.credentials import Credentials

    from .records import Record

# From the Kinesis service model (botocore/data/kinesis/2013-12-02/service-2.json).
_TARGET = "Kinesis_20131202.PutRecords"
_CONTENT_TYPE = "application/x-amz-json-1.1"
_USER_AGENT = f"kinesis-export Botocore/{botocore.__version__}"


class PutRecordsClient:
    """PutRecords as a boto3 Kinesis client makes it (the same request, answer and errors), but cheaper."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Credentials | None,
        *,
        connect_timeout: float,
        read_timeout: float,
        connections: int,
    ) -> None:
        self._url = endpoint_url.rstrip("/") + "/"
        self._region = region
        self._credentials = credentials
        # As botocore makes a client's session (botocore-stubs type three of these more narrowly than it uses them).
        self._http = URLLib3Session(
            verify=os.environ.get("AWS_CA_BUNDLE") or os.environ.get("REQUESTS_CA_BUNDLE") or True,  # type: ignore[arg-type]
            proxies=get_environ_proxies(self._url),
            timeout=(connect_timeout, read_timeout),  # type: ignore[arg-type]
            max_pool_connections=connections,
            # As botocore's clients do: the request's headers and body go out as two writes, and without
            # TCP_NODELAY the body waits for the peer's delayed ACK of the headers (40 ms a call on Linux).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # type: ignore[list-item]
        )

    def put_records(self, stream_name: str, records: Sequence[Record]) -> dict[str, Any]:
        """One call of the records, in order; the answer is boto3's: {"FailedRecordCount", "Records"}."""
        if self._credentials is None:
            raise NoCredentialsError()
        # The JSON text is put together from its parts: one pass, with no dictionary per entry.
        entries = ",".join(
            [
                f'{{"Data":"{b2a_base64(record.data, newline=False).decode()}",'
                f'"PartitionKey":{_json_string(record.partition_key)}}}'
                for record in records
            ]
        )
        body = f'{{"StreamName":{_json_string(stream_name)},"Records":[{entries}]}}'
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body.encode("utf-8"),
            headers={"Content-Type": _CONTENT_TYPE, "X-Amz-Target": _TARGET, "User-Agent": _USER_AGENT},
        )
        SigV4Auth(self._credentials.get_frozen_credentials(), "kinesis", self._region).add_auth(request)
        response = self._http.send(request.prepare())
        if response.status_code >= 300:
            raise ClientError(_error(response.status_code, response.content, response.headers), "PutRecords")
        try:
            answer: dict[str, Any] = json.loads(response.content)
        except ValueError as error:
            # Cut short or garbled on the way: whether the records were written is unknown, so
            # this is a transport error, which the writer retries (at least once, never lost).
            raise ResponseStreamingError(error=f"PutRecords answer is not JSON ({error})") from None
        return answer


def _error(status: int, content: bytes, headers: Any) -> Any:
    """An error answer in the shape botocore gives ClientError: {"Error": {"Code", "Message"}, ...}."""
    try:
        parsed = json.loads(content)
        # Codes may come qualified ("com.amazonaws.kinesis#ResourceNotFoundException").
        code = str(parsed.get("__type") or headers.get("x-amzn-ErrorType", "").partition(":")[0]).rpartition("#")[2]
        message = str(parsed.get("message") or parsed.get("Message") or "")
    except (ValueError, AttributeError):
        code, message = "", content[:200].decode("utf-8", "replace")
    return {
        "Error": {"Code": code or str(status), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": headers.get("x-amzn-RequestId", "")},
    }
