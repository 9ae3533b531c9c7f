"""HTTPS: the hub serves TLS itself when given a certificate and its key (uvicorn's TLS), never below
TLS 1.2 (the Digital Agency's 共通機能標準仕様書 asks for 1.2 or later)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

TLS_FLOOR = ssl.TLSVersion.TLSv1_2


def floored_context(_config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context for the certificate and key, with TLS 1.2 as its floor whatever the
    system's OpenSSL configuration would allow (a module-level function: worker processes import it)."""
    context = default()
    context.minimum_version = TLS_FLOOR
    return context


def tls_options(certfile: Path | None, keyfile: Path | None) -> dict[str, Any]:
    """uvicorn's TLS keyword arguments: none for plain HTTP, both files or neither."""
    if certfile is None and keyfile is None:
        return {}
    if certfile is None or keyfile is None:
        raise ValueError("HTTPS needs both a certificate file and its key file")
    for path in (certfile, keyfile):
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
    return {
        "ssl_certfile": str(certfile),
        "ssl_keyfile": str(keyfile),
        "ssl_context_factory": floored_context,
    }
