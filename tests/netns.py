"""Run a command inside a fresh, private network namespace.

libwebrtc ignores loopback interfaces, so a WebRTC test needs a real-looking interface. The
namespace gets `lo` plus a veth pair v0 (10.200.0.1/24) / v1 (10.200.0.2/24), both ends inside
it, IPv6 off. Nothing in it can reach the outside: no route leaves the namespace, and it is
destroyed when the command exits. Bind the server to `SERVER_HOST`.

As root this uses `unshare -n`; otherwise `unshare -rn` (user + network namespace).

    from netns import netns_unavailable, run_module_in_netns
    if (why := netns_unavailable()):
        pytest.skip(why)
    proc = run_module_in_netns("livekit_generate", "ok", "/tmp/run", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

Command line: `python -m netns -- CMD ARGS...` (run with tests/ on sys.path).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

SERVER_HOST = "10.200.0.1"
TESTS_DIR = Path(__file__).resolve().parent

SETUP = r"""set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.200.0.1/24 dev v0
ip addr add 10.200.0.2/24 dev v1
ip link set v0 up
ip link set v1 up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
exec "$@"
"""


def _env_path() -> str:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    extra = [d for d in ("/usr/sbin", "/sbin") if d not in path.split(":")]
    return ":".join([path, *extra])


def _unshare_argv() -> list[str]:
    unshare = shutil.which("unshare", path=_env_path())
    if unshare is None:
        raise FileNotFoundError("unshare not found")
    return [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-rn"]


def netns_argv(argv: list[str]) -> list[str]:
    """The argv that runs `argv` inside a fresh namespace set up as described above."""
    return [*_unshare_argv(), "--", "sh", "-c", SETUP, "netns-setup", *argv]


@functools.lru_cache(maxsize=1)
def netns_unavailable() -> str | None:
    """None when namespaces with a veth pair can be made here, else the reason they cannot."""
    try:
        proc = subprocess.run(netns_argv(["true"]), capture_output=True, text=True, timeout=20,
                              env={**os.environ, "PATH": _env_path()})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create a network namespace: {e}"
    if proc.returncode != 0:
        return f"cannot create a network namespace with a veth pair: {proc.stderr.strip()[:300]}"
    return None


def run_in_netns(argv: list[str], *, timeout: float, env: dict[str, str] | None = None,
                 cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run argv inside a fresh namespace; kill its whole process group after `timeout` s.

    Returns the CompletedProcess (text stdout/stderr). On timeout returncode is -9 and stderr
    ends with a line saying so, so callers can assert on returncode alone.
    """
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = _env_path()
    proc = subprocess.Popen(netns_argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(proc.args, -9, out, (err or "") + f"\n[netns] timed out after {timeout} s\n")
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_module_in_netns(module: str, *args: str, timeout: float, env: dict[str, str] | None = None,
                        python: str = sys.executable) -> subprocess.CompletedProcess:
    """`python -m module args...` inside a fresh namespace, with tests/ on PYTHONPATH."""
    pythonpath = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return run_in_netns([python, "-m", module, *args], timeout=timeout, cwd=TESTS_DIR,
                        env={"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", **(env or {})})


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m netns -- CMD [ARGS...]", file=sys.stderr)
        return 2
    os.execvpe(netns_argv(argv)[0], netns_argv(argv), {**os.environ, "PATH": _env_path()})


if __name__ == "__main__":
    sys.exit(main())
