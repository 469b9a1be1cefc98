"""`synthconv generate --agent ROLE=NAME` against an agent that is not synthconv's, in a netns.

    python -m livekit_agent_call OUT AGENTS_JSON [generate args...]   (tests/ on PYTHONPATH, in a netns)

Starts the pinned `livekit-server --dev` on 10.200.0.1 (log OUT.server.log), the loopback OpenAI
server with Whisper hearing on 127.0.0.1:8766 (OUT.openai.log), and one worker of
tests/user_agent.py per entry of AGENTS_JSON, a list of {"name": agent name, "env": {...}}
(its variant: USER_AGENT_DELAY_S, USER_AGENT_NO_YIELD; USER_AGENT_TRUTH is set to
OUT.<name>.truth.jsonl). Then runs the real CLI and prints one `RESULT {json}` line: exit code,
output, rooms left, and each agent's truth lines. Every process it starts is stopped before it
prints. With `--bench`, it also samples the load average and the CPU time of every process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from livekit_generate import descendants, registered, synthconv_rooms
from livekit_server import API_KEY, API_SECRET, LiveKitServer
from netns import SERVER_HOST

OPENAI_PORT = 8766
OPENAI_KEY = "sk-loopback-agent-call"
TESTS = Path(__file__).resolve().parent


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(out: str, agents: list[dict], extra: list[str], bench: bool) -> dict:
    server = LiveKitServer(SERVER_HOST, Path(f"{out}.server.log"))
    procs: list[asyncio.subprocess.Process] = []
    try:
        await server.start()
        env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET,
               "OPENAI_BASE_URL": f"http://127.0.0.1:{OPENAI_PORT}/v1", "OPENAI_API_KEY": OPENAI_KEY}
        openai = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "openai_loopback", "--port", str(OPENAI_PORT), "--whisper",
            stdout=asyncio.subprocess.PIPE, stderr=open(f"{out}.openai.log", "wb"), env=env)  # noqa: SIM115
        procs.append(openai)
        await asyncio.wait_for(openai.stdout.readline(), 60)  # "OpenAI loopback on ..."
        for a in agents:
            log = open(f"{out}.{a['name']}.log", "wb")  # noqa: SIM115 - closed with the process
            agent_env = {**env, "USER_AGENT_NAME": a["name"], "USER_AGENT_TRUTH": f"{out}.{a['name']}.truth.jsonl",
                         **a.get("env", {})}
            procs.append(await asyncio.create_subprocess_exec(sys.executable, str(TESTS / "user_agent.py"), "start",
                                                              env=agent_env, stdout=log, stderr=log))
        for p in procs[1:]:
            await registered(p, Path(f"{out}.server.log"))
        await asyncio.sleep(1.0)  # every worker registered (the log says so once per worker)
        t0 = time.monotonic()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--out", out, *extra,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        loads: list[float] = []
        sampler = asyncio.create_task(_sample(loads)) if bench else None
        stdout, stderr = await cli.communicate()
        elapsed = time.monotonic() - t0
        if sampler is not None:
            sampler.cancel()
        cpu = {}
        if bench:  # CPU of everything this harness started, the CLI's own children gone by now
            cpu = {"livekit-server": server.cpu_seconds(),
                   "openai-loopback": cpu_seconds(openai.pid),
                   "agents": sum(cpu_seconds(q) for p in procs[1:] for q in [p.pid, *descendants(p.pid)])}
        from livekit import api

        lk = api.LiveKitAPI(url=server.url, api_key=API_KEY, api_secret=API_SECRET)
        rooms = await synthconv_rooms(lk)
        await lk.aclose()
        truth = {}
        for a in agents:
            path = Path(f"{out}.{a['name']}.truth.jsonl")
            truth[a["name"]] = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
        return {"exit": cli.returncode, "stdout": stdout.decode()[-6000:], "stderr": stderr.decode()[-6000:],
                "rooms_left": rooms, "truth": truth, "elapsed_s": round(elapsed, 1), "load": loads, "cpu_s": cpu,
}
    finally:
        for p in procs:
            if p.returncode is None:
                for q in descendants(p.pid):
                    try:
                        os.kill(q, 9)
                    except OSError:
                        pass
                p.kill()
                await p.wait()
        await server.stop()


async def _sample(loads: list[float]) -> None:
    while True:
        loads.append(os.getloadavg()[0])
        await asyncio.sleep(5)


if __name__ == "__main__":
    args = sys.argv[1:]
    bench = "--bench" in args
    args = [a for a in args if a != "--bench"]
    out, agents, *extra = args
    res = asyncio.run(main(out, json.loads(agents), extra, bench))
    print("RESULT " + json.dumps(res), flush=True)
