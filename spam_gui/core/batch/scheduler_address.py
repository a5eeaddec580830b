"""The form of a Dask scheduler's address (``--scheduler``), checked before anything connects.

A scheduler runs code sent to it (and its workers run the jobs' code): give ``--scheduler``
only an address on a trusted network, or a ``tls://`` one with Dask's TLS security
(docs/batch.md, "Security"). No Dask import here: the check is instant.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["CONNECT_TIMEOUT_S", "SCHEMES", "check_scheduler_address"]

CONNECT_TIMEOUT_S = 10
"""How long connecting to an existing scheduler may take (stated in ``--help`` and the error)."""

SCHEMES = ("tcp", "tls")
"""The schemes a scheduler address may have (none means ``tcp``)."""

_HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_scheduler_address(address: str) -> str | None:
    """Why ``address`` is not a scheduler address (``scheme://host:port`` with scheme
    ``tcp`` or ``tls``, or ``host:port``), in one line naming it, or None when its form is
    right. Whether the scheduler answers is found out when connecting."""
    text = str(address).strip()
    example = "expected e.g. tcp://10.0.0.1:8786 or tls://scheduler.example:8786"
    if not text:
        return f"--scheduler: empty address ({example})"
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme.lower() not in SCHEMES:
        return (f"--scheduler {text}: unknown scheme {scheme!r}, not tcp:// or tls:// "
                f"({example})")
    if rest.startswith("["):                      # [IPv6]:port
        host, close, port = rest[1:].partition("]")
        if not close or not port.startswith(":"):
            return f"--scheduler {text}: not an address ({example})"
        port = port[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"--scheduler {text}: {host!r} is not an IPv6 address ({example})"
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            return f"--scheduler {text}: no port ({example})"
        if not _HOST_RE.match(host):
            return f"--scheduler {text}: {host!r} is not a host name or address ({example})"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"--scheduler {text}: {port!r} is not a port number 1-65535 ({example})"
    return None
