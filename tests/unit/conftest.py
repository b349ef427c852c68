"""Unit tests reach nothing beyond loopback: fake credentials, no instance metadata, no AWS config files of the
developer's, and a guard that refuses any other connection or name lookup before it is made."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_socket import SocketBlockedError, enable_socket, socket_allow_hosts

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """botocore finds credentials in the environment, and looks nowhere else (169.254.169.254 above all)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pytest-socket refuses a connection to anything but loopback; a name other than loopback's is not even
    looked up (a DNS query would leave the machine before any connection)."""
    look_up = socket.getaddrinfo

    def loopback_names_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK:
            raise SocketBlockedError(f"a unit test looked up {host!r}: unit tests reach loopback only")
        return look_up(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_names_only)
    socket_allow_hosts(list(LOOPBACK), allow_unix_socket=True)
    yield
    enable_socket()
