import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def synthconv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "synthconv.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


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
    proc = synthconv("generate", "--count", "3", "--seed", "7", "--concurrency", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
