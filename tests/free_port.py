"""A free TCP port for a test's process group: the suite's files run in parallel (pytest-xdist),
so two `accelerate launch` tests must not both take the default rendezvous port 29500."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A localhost TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
