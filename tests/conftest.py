"""What the tests share: one way to run the CLI (in this process, or as a real process where
only a process shows the behaviour: signals, SIGKILL, resume), the one-line-error check, a
small offline run, and how `make test` splits the suite over two workers (pytest-xdist)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# rich sizes its tables by COLUMNS, read once, when a console is made: whichever test imports the
# CLI first (in a pytest-xdist worker, not always one that runs it through `cli`) fixes the width
os.environ["COLUMNS"] = "200"


def _env(env: dict | None, drop: tuple[str, ...] = ()) -> dict:
    kept = {k: v for k, v in os.environ.items() if not (drop and k.startswith(drop))}
    return {**kept, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), **(env or {})}


def synthconv(*args: str, env: dict | None = None, drop: tuple[str, ...] = (),
              timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would, non-interactive (stdin is not a
    terminal). `env` adds to the environment; variables starting with one of `drop` are removed."""
    return subprocess.run([sys.executable, "-m", "synthconv.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=_env(env, drop), stdin=subprocess.DEVNULL, timeout=timeout)


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    """The real CLI in a process group of its own (to signal it and its children), not waited for."""
    return subprocess.Popen([sys.executable, "-m", "synthconv.cli", *args], cwd=ROOT, env=_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in this process (typer's CliRunner): the same result, without a Python start-up."""
    from synthconv.cli import app

    saved = dict(os.environ)  # commands export flags for their child processes: keep that local
    try:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Bad input: exit code 2 and one line on stderr naming the problem; the line."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory) -> Path:
    """One small offline run shared by the end-to-end checks."""
    out = tmp_path_factory.mktemp("runs") / "seed7"
    proc = cli("generate", "--count", "3", "--seed", "7", "--concurrency", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


# `make test` runs two pytest-xdist workers (`-n 2 --dist loadgroup`). Tests with LiveKit rooms
# run in real time, mostly waiting, and judge their calls by it (an agent 0.5 s behind fails its
# room): they run one after another on one worker, while the other worker runs the rest at a
# lower priority, so the rooms keep real time on 2 cores whatever runs next to them.
ROOMS_GROUP = "rooms"


def _rooms(item: pytest.Item) -> bool:
    return item.get_closest_marker("livekit") is not None or item.get_closest_marker("cluster") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _rooms(item):
            item.add_marker(pytest.mark.xdist_group(ROOMS_GROUP))


def _nice(value: int) -> None:
    """Every thread of this process (a thread pool made earlier keeps its own nice value on
    Linux); child processes inherit it from the thread that starts them."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), value)
        except (PermissionError, ProcessLookupError):
            pass  # a thread gone; or lowering it again, which takes root (CAP_SYS_NICE)


@pytest.fixture(scope="session", autouse=True)
def _everything_but_rooms_runs_niced():
    """In a pytest-xdist worker everything runs at nice 10, but the room tests (below)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _nice(10)
    yield


@pytest.fixture(autouse=True)
def _rooms_come_first(request: pytest.FixtureRequest):  # noqa: ANN202 - a generator fixture
    """A room test runs at nice 0 (as root), beside the other worker's tests at nice 10."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not _rooms(request.node):
        yield
        return
    _nice(0)
    try:
        yield
    finally:
        _nice(10)
