"""The real `livekit-server --dev` for tests and benchmarks.

`make test` builds the version pinned in the Makefile into tools/ (scripts/build-livekit-server).
The tests start it inside the network namespace they create (libwebrtc skips loopback ICE
candidates), bound to that namespace's veth address, and stop it afterwards. Where it could
not be built, `unavailable()` says why in one line, and the LiveKit tests fail with it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.search(r"^LIVEKIT_SERVER_VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
BINARY = ROOT / "tools" / f"livekit-server-{VERSION}"
API_KEY, API_SECRET = "devkey", "secret"  # what --dev uses


def unavailable() -> str | None:
    """None when the pinned server is built, else one line saying why it is not."""
    if BINARY.is_file():
        return None
    error = BINARY.with_name(BINARY.name + ".error")
    why = error.read_text().strip() if error.is_file() else "not built yet"
    return f"livekit-server {VERSION} is missing at {BINARY} ({why}); build it with `make livekit-server`"


class LiveKitServer:
    """`livekit-server --dev` on `host`, as a child process; its log goes to `log`."""

    def __init__(self, host: str, log: Path, port: int = 7880, extra: list[str] | None = None) -> None:
        self.host, self.port, self.log, self.extra = host, port, log, extra or []
        self.url = f"ws://{host}:{port}"
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 30.0) -> None:
        why = unavailable()
        if why:
            raise RuntimeError(why)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(BINARY), "--dev", "--bind", self.host, "--node-ip", self.host, *self.extra],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"livekit-server exited with {self.proc.returncode} (see {self.log})")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"livekit-server did not listen on {self.host}:{self.port} within {timeout:g} s")

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (for benchmarks)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
