"""`synthconv generate --transport livekit` against a real livekit-server, in a netns.

    python -m livekit_generate MODE OUT [generate args...]   (tests/ on PYTHONPATH, inside a netns)

Starts the pinned `livekit-server --dev` on 10.200.0.1 (its log is OUT.server.log), or, when
LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET are set, uses that server instead and runs
outside any namespace. Runs the real CLI as a subprocess and prints one `RESULT {json}` line:
the CLI's exit code and output, and the synthconv rooms left on the server (read through
RoomService). Faults are made with real mechanisms, never a fake server. Modes:
  ok           a plain run (the CLI starts its own local agent worker)
  ignore-first a separate worker leaves the first dispatch it is offered unanswered, so that
               role's agent never joins until the orchestrator dispatches it again
  kill-worker  a separate worker is SIGKILLed once both agents are in the room
  bad-creds    the CLI is given a wrong API secret
  deaf         a separate worker links peers with livekit-agents' default participant kinds
               (no AGENT), the trap synthconv's `link_options` avoids
  two-rooms    a separate worker that takes two rooms at a time (`synthconv worker --max-jobs 4`)
With `--engine openai-...` among the generate args, a loopback OpenAI server (tests/openai_loopback)
runs in its own process on 127.0.0.1:8765 and OPENAI_BASE_URL / OPENAI_API_KEY point at it; its
faults are set with OPENAI_FAULTS='{"realtime_response": [0, 0, 0, 0, 0]}' (see its server).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from livekit_server import API_KEY, API_SECRET, LiveKitServer
from netns import SERVER_HOST

OPENAI_PORT = 8765
OPENAI_KEY = "sk-loopback-livekit-5e1d"
WORKERS = {"kill-worker": ["-m", "synthconv.cli", "worker"], "deaf": ["-m", "fault_workers", "deaf"],
           "ignore-first": ["-m", "fault_workers", "ignore-first"],
           "two-rooms": ["-m", "synthconv.cli", "worker", "--max-jobs", "4", "--idle-processes", "2"]}


async def main(mode: str, out: str, extra: list[str]) -> dict:
    if os.environ.get("LIVEKIT_URL"):  # a server of the caller's
        return await generate(mode, out, extra, *(os.environ[v] for v in
                                                  ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")))
    server = LiveKitServer(SERVER_HOST, Path(f"{out}.server.log"))
    try:
        await server.start()
        return await generate(mode, out, extra, server.url, API_KEY, API_SECRET)
    finally:
        await server.stop()


async def generate(mode: str, out: str, extra: list[str], url: str, key: str, secret: str) -> dict:
    from livekit import api

    lk = api.LiveKitAPI(url=url, api_key=key, api_secret=secret)
    env = {**os.environ, "LIVEKIT_URL": url, "LIVEKIT_API_KEY": key,
           "LIVEKIT_API_SECRET": secret if mode != "bad-creds" else "wrong-secret-wrong-secret-0123456789"}
    args = ["generate", "--transport", "livekit", "--out", out, *extra]
    worker = openai = None
    if any(a.startswith("openai-") for a in extra):
        openai = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "openai_loopback", "--port", str(OPENAI_PORT),
            *(["--faults", os.environ["OPENAI_FAULTS"]] if os.environ.get("OPENAI_FAULTS") else []),
            stdout=asyncio.subprocess.PIPE, stderr=open(f"{out}.openai.log", "wb"))  # noqa: SIM115
        await asyncio.wait_for(openai.stdout.readline(), 60)  # "OpenAI loopback on ..."
        env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{OPENAI_PORT}/v1", OPENAI_API_KEY=OPENAI_KEY)
    if mode in WORKERS:
        args += ["--no-local-worker", "--retries", "0"]
        command = WORKERS[mode]
        worker_log = open(f"{out}.worker.log", "wb")  # noqa: SIM115 - closed with the process
        worker = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=env, stdout=worker_log, stderr=worker_log)
        await registered(worker, Path(f"{out}.server.log"))
    cli = await asyncio.create_subprocess_exec(sys.executable, "-m", "synthconv.cli", *args, env=env,
                                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    killed_at, left_behind = None, []
    if worker is not None and mode == "kill-worker":
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120:
            if len(await agents_in_rooms(lk)) >= 2:
                await asyncio.sleep(3)  # mid-conversation
                family = descendants(worker.pid)  # its forkserver and job processes
                worker.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                await asyncio.sleep(5)
                left_behind = [pid for pid in family if alive(pid)]
                break
            await asyncio.sleep(0.2)
    stdout, stderr = await cli.communicate()
    for proc in (worker, openai):
        if proc is not None and proc.returncode is None:
            proc.kill()
    await asyncio.sleep(0.5)
    result = {"exit": cli.returncode, "stdout": stdout.decode()[-4000:], "stderr": stderr.decode()[-4000:],
              "rooms_left": await synthconv_rooms(lk), "killed": killed_at is not None, "left_behind": left_behind}
    await lk.aclose()
    return result


async def registered(worker, server_log: Path, timeout: float = 60) -> None:  # noqa: ANN001
    """Wait until the server has registered `worker`: a dispatch sent before that is dropped,
    which the ignore-first test would count as its own re-dispatch."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and worker.returncode is None:
        if server_log.is_file() and "worker registered" in server_log.read_text(errors="replace"):
            return
        await asyncio.sleep(0.1)
    if not server_log.is_file():  # a server of the caller's: no log to read
        await asyncio.sleep(5)


def descendants(pid: int) -> list[int]:
    parents = {}
    for p in Path("/proc").iterdir():
        try:
            parents[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    family, grew = {pid}, True
    while grew:
        new = {c for c, parent in parents.items() if parent in family} - family
        family |= new
        grew = bool(new)
    return sorted(family - {pid})


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


async def synthconv_rooms(lk) -> list[str]:  # noqa: ANN001
    from livekit import api

    rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    return sorted(r.name for r in rooms if r.name.startswith("synthconv-"))


async def agents_in_rooms(lk) -> list[str]:  # noqa: ANN001
    from livekit import api

    found = []
    for room in await synthconv_rooms(lk):
        ps = (await lk.room.list_participants(api.ListParticipantsRequest(room=room))).participants
        found += [p.identity for p in ps if not p.identity.startswith("observer-")]
    return found


if __name__ == "__main__":
    mode, out, *extra = sys.argv[1:]
    res = asyncio.run(main(mode, out, extra))
    print("RESULT " + json.dumps(res), flush=True)
