"""The unit tests' guard (tests/unit/conftest.py): nothing beyond loopback, refused before it is attempted."""

from __future__ import annotations

import re
import socket
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import HTTPClientError
from pytest_socket import SocketBlockedError, SocketConnectBlockedError


def test_a_connection_beyond_loopback_is_refused_before_it_is_attempted(monkeypatch):
    # given the real connect, watched (the guard must refuse before calling it)
    attempted = []
    monkeypatch.setattr("pytest_socket._true_connect", lambda sock, address: attempted.append(address))

    # when a unit test connects to an address beyond this machine (TEST-NET-1, routed nowhere)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 443))

    # then the guard refused it, and no connect reached the operating system
    assert attempted == []


def test_a_name_beyond_loopback_is_not_even_looked_up():
    with pytest.raises(SocketBlockedError, match=re.escape("kinesis.us-east-1.amazonaws.com")):
        socket.getaddrinfo("kinesis.us-east-1.amazonaws.com", 443)


def test_an_aws_call_from_a_unit_test_never_leaves_the_machine():
    # given a real boto3 client with no endpoint override (it would go to AWS) and no retries
    kinesis = boto3.client("kinesis", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))

    # when it is called, the guard stops it at the name lookup (botocore wraps the guard's error)
    with pytest.raises(HTTPClientError, match="unit tests reach loopback only"):
        kinesis.list_streams()


def test_loopback_stays_open_to_unit_tests():
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()

    with socket.create_connection(server.getsockname()[:2], timeout=5):
        pass

    accepted.join(5)
    server.close()
    assert not accepted.is_alive()
