"""Namespace transforms applied to identity values before they leave the account."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def sha256(value: str) -> str:
    """Trim, lower-case and hash as lower-case hex; a value already hashed is passed through.

    Passing 64-hex values through lets upstream systems that hash on their side share the
    namespace without their hashes being hashed twice.
    """
    normalized = value.strip().lower()
    if len(normalized) == 64 and _SHA256_HEX.fullmatch(normalized):
        return normalized
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


TRANSFORMS: dict[str, Callable[[str], str]] = {"sha256": sha256}
