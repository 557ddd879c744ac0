"""Servers a benchmark starts on loopback (gunicorn, the DICOM receiver, Orthanc): wait until one listens."""

from __future__ import annotations

import socket
import time


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")
