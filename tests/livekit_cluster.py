"""A LiveKit cluster on one machine: Redis, two livekit-server nodes, two agent worker hosts and
the orchestrator, each a "host" of its own (issue 27).

    python -m livekit_cluster MODE OUT [generate args...]   (tests/ on PYTHONPATH, inside a netns)

Run it inside the namespace netns.py makes (the test does): there it puts a bridge, and every
host is a process in a network and mount namespace of its own with one veth on that bridge and
an address of its own; nothing leaves the outer namespace, and every host (and its namespaces)
ends with its process group. Worker hosts start in an empty working directory and see the
project's scenarios/, personas/ and locales/ folders as empty (a tmpfs over each): what they
play comes from the dispatch. The orchestrator is `synthconv generate --transport livekit
--no-local-worker` on its own host, pointed at node A; worker 1 registers with node A and
worker 2 with node B, so jobs cross nodes through Redis.

Modes (each a real mechanism, no fake server):
  ok            a plain run
  kill-worker   worker 2's host gets SIGKILL (its whole process group) once its agents are in rooms
  kill-node     node B gets SIGKILL once it holds a room (a node lost: its rooms, and worker 2's
                connection, go with it)
  restart-redis Redis is stopped (SIGKILL, nothing saved) and started again, empty, mid-run

Prints one `RESULT {json}` line: generate's exit code and output tail, which node held each
room and which worker ran each agent (from their logs), what was injected and when, and each
process's CPU seconds and peak memory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from livekit_server import BINARY
from netns import TESTS_DIR

from synthconv.process import die_with_parent

ROOT = TESTS_DIR.parent

SUBNET = "10.201.0"
BRIDGE_IP = f"{SUBNET}.1"
REDIS_IP = f"{SUBNET}.2"
NODE_IPS = {"a": f"{SUBNET}.11", "b": f"{SUBNET}.12"}
WORKER_IPS = {"1": f"{SUBNET}.21", "2": f"{SUBNET}.22"}
ORCHESTRATOR_IP = f"{SUBNET}.30"
API_KEY = "cluster"
API_SECRET = "cluster-secret-for-the-test-only-0123456789"  # livekit-server wants 32 characters or more
HIDDEN = [ROOT / "scenarios", ROOT / "personas", ROOT / "locales"]  # what worker hosts must not need

# In the host's fresh namespaces: wait for the veth the parent moves in, give it the address,
# cover the hidden folders with empty tmpfs, then run the command.
HOST_SETUP = r"""set -e
addr="$1"; shift
n=0
until ip link show eth0 >/dev/null 2>&1; do
  n=$((n + 1)); [ "$n" -lt 1000 ] || { echo "host $addr: no eth0" >&2; exit 1; }
  sleep 0.01
done
ip link set lo up
ip addr add "$addr/24" dev eth0
ip link set eth0 up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
while [ "$1" != "--" ]; do mount -t tmpfs -o size=16k,mode=555 hidden "$1"; shift; done
shift
exec "$@"
"""


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def make_bridge() -> None:
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
    sh("ip", "link", "set", "br0", "up")


class Host:
    """A process in its own network and mount namespaces, at `ip` on the bridge; its output
    goes to `log`. Everything it starts stays in its process group (`kill` ends it all)."""

    _count = 0

    def __init__(self, name: str, ip: str, argv: list[str], log: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, hide: list[Path] | None = None) -> None:
        self.name, self.ip, self.argv, self.log = name, ip, argv, log
        self.cwd, self.env, self.hide = cwd, env, hide or []
        self.proc: subprocess.Popen | None = None
        self.netns = ""

    def start(self) -> Host:
        Host._count += 1
        veth = f"vh{Host._count}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "-n", "-m", "--propagation", "private", "--", "sh", "-c", HOST_SETUP, "host", self.ip,
                 *map(str, self.hide), "--", *self.argv],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True,
                env={**os.environ, **(self.env or {})}, preexec_fn=die_with_parent)  # a host outlives no harness
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while True:  # until unshare has made its namespace (a veth moved in before would stay here)
            try:
                if os.readlink(f"/proc/{self.proc.pid}/ns/net") != own:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name} did not start (see {self.log})")
            time.sleep(0.01)
        self.netns = os.readlink(f"/proc/{self.proc.pid}/ns/net")
        # the host's MAC follows its address, as a machine's does when one of its processes restarts
        mac = "02:00:" + ":".join(f"{int(b):02x}" for b in self.ip.split("."))
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", str(self.proc.pid))
        sh("ip", "link", "set", veth, "master", "br0", "up")
        return self

    def leftovers(self) -> list[int]:
        """Processes still in this host's network namespace."""
        left = []
        for p in Path("/proc").iterdir():
            try:
                if p.name.isdigit() and os.readlink(p / "ns/net") == self.netns and alive(int(p.name)):
                    left.append(int(p.name))
            except OSError:
                continue
        return left

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the host's whole process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            self.kill()  # whatever it left in its group
            return
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill(signal.SIGKILL)
        self.proc.wait()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Usage:
    """CPU seconds and memory of one host's processes, sampled: every process it ever had counts
    its CPU (agent job processes come and go), memory is PSS (forked processes share pages) at
    its peak, per process and summed."""

    TICK, PAGE = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")

    def __init__(self) -> None:
        self.cpu: dict[tuple[int, int], float] = {}  # (pid, start) -> CPU s
        self.pss: dict[tuple[int, int], int] = {}  # (pid, start) -> peak PSS bytes
        self.kind: dict[tuple[int, int], str] = {}
        self.peak = 0  # the largest summed PSS seen

    def sample(self, pgid: int, memory: bool) -> None:
        total = 0
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                f = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(f[2]) != pgid or f[0] == "Z":
                    continue
                key = (int(p.name), int(f[19]))
                self.cpu[key] = (int(f[11]) + int(f[12])) / self.TICK
                if key not in self.kind:
                    cmd = (p / "cmdline").read_bytes()
                    self.kind[key] = "runner" if b"spawn_main" in cmd else "job" if b"forkserver" in cmd else "main"
                if memory:
                    pss = next(int(line.split()[1]) * 1024 for line in (p / "smaps_rollup").read_text().splitlines()
                               if line.startswith("Pss:"))
                    self.pss[key] = max(pss, self.pss.get(key, 0))
                    total += pss
            except (OSError, ValueError, IndexError, StopIteration):
                continue
        self.peak = max(self.peak, total)

    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def summary(self) -> dict:
        by_kind: dict[str, list[int]] = {}
        for key, pss in self.pss.items():
            by_kind.setdefault(self.kind[key], []).append(pss)
        return {"cpu_s": round(self.cpu_s(), 1), "pss_mb": round(self.peak / 2**20),
                "pss_mb_each": {k: round(max(v) / 2**20) for k, v in by_kind.items()},
                "processes": {k: len(v) for k, v in by_kind.items()}}


def node_config(name: str, ip: str, folder: Path, sort_by: str = "rooms") -> Path:
    """A multi-node livekit-server: Redis for routing and the bus; rooms go to the node with
    fewest rooms (node stats are 2 s old at most, so rooms created at once share a node), or,
    with `sort_by="random"`, each to a node drawn at random."""
    path = folder / f"node-{name}.yaml"
    path.write_text(json.dumps({
        "port": 7880, "bind_addresses": [ip],
        "rtc": {"tcp_port": 7881, "udp_port": 7882, "node_ip": ip, "use_external_ip": False},
        "redis": {"address": f"{REDIS_IP}:6379"},
        "keys": {API_KEY: API_SECRET},
        "node_selector": {"kind": "any", "sort_by": sort_by, "algorithm": "lowest"},
        "logging": {"level": "info"},  # rooms and workers are found in its INFO lines
    }, indent=1))  # JSON is YAML
    return path


class Cluster:
    def __init__(self, out: Path, sort_by: str = "rooms") -> None:
        self.out = out
        self.sort_by = sort_by  # the nodes' node_selector
        self.logs = out.parent / f"{out.name}.logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.hosts: dict[str, Host] = {}
        self.usage: dict[str, Usage] = {}  # host -> its processes' CPU and memory, sampled
        self.samples = 0

    def start(self, name: str, ip: str, argv: list[str], **kw) -> Host:  # noqa: ANN003
        host = Host(name, ip, argv, self.logs / f"{name}.log", **kw).start()
        self.hosts[name] = host
        return host

    def redis(self) -> Host:
        return self.start("redis", REDIS_IP, ["redis-server", "--bind", REDIS_IP, "--port", "6379", "--save", "",
                                              "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.logs)])

    def node(self, name: str) -> Host:
        ip = NODE_IPS[name]
        return self.start(f"node-{name}", ip, [str(BINARY), "--config",
                                               str(node_config(name, ip, self.logs, self.sort_by))])

    def worker(self, name: str, node: str) -> Host:
        home = self.logs / f"worker-{name}-cwd"
        home.mkdir(exist_ok=True)
        return self.start(f"worker-{name}", WORKER_IPS[name], [sys.executable, "-m", "synthconv.cli", "worker"],
                          cwd=home, hide=HIDDEN, env={**self.lk_env(node), "PYTHONPATH": ""})

    def lk_env(self, node: str) -> dict[str, str]:
        return {"LIVEKIT_URL": f"ws://{NODE_IPS[node]}:7880", "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}

    def wait_listening(self, ip: str, port: int, timeout: float = 60) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {ip}:{port} after {timeout:g} s (logs in {self.logs})")

    def wait_log(self, name: str, pattern: str, timeout: float = 120, since: int = 0) -> float:
        """Wait until host `name`'s log (from byte `since`) matches; returns when."""
        deadline = time.monotonic() + timeout
        log = self.logs / f"{name}.log"
        while time.monotonic() < deadline:
            with open(log, "rb") as f:
                f.seek(since)
                if re.search(pattern, f.read().decode(errors="replace")):
                    return time.monotonic()
            if not self.hosts[name].alive():
                raise RuntimeError(f"{name} exited (see {log})")
            time.sleep(0.2)
        raise RuntimeError(f"{name}: no {pattern!r} in its log within {timeout:g} s (see {log})")

    def sample_usage(self) -> None:
        self.samples += 1
        for name, host in self.hosts.items():
            if host.alive():
                self.usage.setdefault(name, Usage()).sample(host.proc.pid, memory=self.samples % 4 == 1)

    def stop(self) -> None:
        for host in reversed(list(self.hosts.values())):
            host.stop()


def spread(logs: Path) -> dict:
    """Which node held each room (the node chosen for it, as any node logs it) and which worker
    ran each agent (from the workers' logs)."""
    texts = {n: (logs / f"node-{n}.log").read_text(errors="replace") for n in NODE_IPS}
    ids = {m: n for n, text in texts.items() for m in re.findall(r'starting LiveKit server.*?"nodeID": "(\w+)"', text)}
    rooms: dict[str, str] = {}
    for text in texts.values():
        for room, node in re.findall(r'selected node for room\s+\{"room": "(synthconv-[^"]+)", "selectedNodeID": "(\w+)"', text):
            rooms.setdefault(room, ids.get(node, node))  # the first: a lost node's rooms are placed again on delete
    agents: dict[str, list[str]] = {}
    for worker in WORKER_IPS:
        log = logs / f"worker-{worker}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        for role, room in re.findall(r"INFO (\w+): session started in (synthconv-[^,\s]+),", text):
            agents.setdefault(room, []).append(f"{worker}:{role}")
    return {"rooms": rooms, "agents": agents}


class Events(list):
    """What the harness did, when: seconds since the cluster started, and the wall clock (run.log's)."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def add(self, what: str, **kw) -> None:  # noqa: ANN003
        self.append({"at": round(time.monotonic() - self.t0, 1), "wall": round(time.time(), 1), "what": what, **kw})


def main(mode: str, out: Path, extra: list[str]) -> dict:
    # a time-out sends SIGTERM: stop every host on the way out (SIGKILL: they die with us, above)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    make_bridge()
    # the node-loss run needs a room on node B: the run's rooms are created at once, so by fewest
    # rooms they share the node that wins a tie, which was node A in 3 runs of 3 (this machine,
    # v1.13.5); drawn at random, 4 rooms all miss node B once in 16 runs (the test runs it again)
    cluster = Cluster(out, sort_by="random" if mode == "kill-node" else "rooms")
    events = Events()
    try:
        cluster.redis()
        cluster.wait_listening(REDIS_IP, 6379)
        for name in ("b", "a"):
            cluster.node(name)
            cluster.wait_listening(NODE_IPS[name], 7880)
        for name, node in (("1", "a"), ("2", "b")):
            cluster.worker(name, node)
        for node in NODE_IPS:
            cluster.wait_log(f"node-{node}", "worker registered", timeout=240)
        events.add("cluster up")
        orchestrator = cluster.start(
            "orchestrator", ORCHESTRATOR_IP,
            # espeak voices: this test is about the cluster, and 4 rooms of Piper voices on 2 cores
            # fall 0.5-2.0 s behind real time (measured), failing rooms the test is not about
            [sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--no-local-worker",
             "--tts", "espeak", "--out", str(out), *extra], cwd=ROOT, env=cluster.lk_env("a"))
        start = time.monotonic()
        injected = mode == "ok"
        at_start: dict[str, float] = {}  # each host's CPU s when the first room started (start-up done)
        while orchestrator.alive():
            cluster.sample_usage()
            if not at_start and " start " in read(out / "run.log"):
                at_start = {k: round(u.cpu_s(), 1) for k, u in cluster.usage.items()}
            if not injected:
                injected = inject(mode, cluster, events)
            time.sleep(0.5)
        events.add("generate ended")
        log = (cluster.logs / "orchestrator.log").read_text(errors="replace")
        return {"exit": orchestrator.proc.returncode, "output": log[-4000:], "seconds": round(time.monotonic() - start, 1),
                "events": events, "spread": spread(cluster.logs),
                "usage": {k: u.summary() for k, u in cluster.usage.items()}, "cpu_at_first_room": at_start}
    finally:
        cluster.stop()


def inject(mode: str, cluster: Cluster, events: Events) -> bool:
    """Make `mode`'s failure once its moment has come (agents talking in rooms it hits); True once made."""
    now = spread(cluster.logs)
    if mode == "kill-worker":
        if sum(a.startswith("2:") for agents in now["agents"].values() for a in agents) < 2:
            return False
        time.sleep(5)  # mid-conversation
        host = cluster.hosts["worker-2"]
        host.kill()
        events.add("SIGKILL worker-2's process group")
        time.sleep(5)
        events.add("worker-2 host gone", leftovers=host.leftovers())
        return True
    if mode == "kill-node":
        if not any(now["rooms"].get(room) == "b" and len(agents) == 2 for room, agents in now["agents"].items()):
            return False
        time.sleep(8)  # mid-conversation
        host = cluster.hosts["node-b"]
        host.kill()
        events.add("SIGKILL node-b")
        time.sleep(5)
        events.add("node-b host gone", leftovers=host.leftovers())
        return True
    if mode == "restart-redis":
        if sum(len(agents) == 2 for agents in now["agents"].values()) < 2:
            return False
        time.sleep(5)
        cluster.hosts["redis"].stop()
        events.add("redis stopped")
        time.sleep(5)
        cluster.redis()
        cluster.wait_listening(REDIS_IP, 6379)
        events.add("redis started (empty)")
        return True
    raise ValueError(f"unknown mode {mode!r}")


if __name__ == "__main__":
    mode, out, *extra = sys.argv[1:]
    res = main(mode, Path(out), extra)
    print("RESULT " + json.dumps(res), flush=True)
