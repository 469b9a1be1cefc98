"""`synthconv worker`: a LiveKit agent worker, and the one `generate` starts next to itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..voices import use_voice_folders
from .common import LiveKitKey, LiveKitSecret, LiveKitURL, app, fail, set_livekit_env
from .voices import VoicesDirOpt

if TYPE_CHECKING:
    from ..config import EngineSpec


@app.command()
def worker(
    livekit_url: str | None = LiveKitURL,
    livekit_api_key: str | None = LiveKitKey,
    livekit_api_secret: str | None = LiveKitSecret,
    preload: str = typer.Option("offline", "--preload",
                                help="engine each job process loads before taking a job (each dispatch names its own)"),
    idle_processes: int = typer.Option(2, "--idle-processes", min=0,
                                       help="job processes kept loaded and waiting (one per agent at once is ideal)"),
    load_threshold: float = typer.Option(0.7, "--load-threshold", min=0.05, max=1.0,
                                         help="take no new job while the job processes' load (share of this "
                                         "machine's cores used or waited for) is at or above this"),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1,
                                           help="take at most this many agents at once (two per room), "
                                           "whatever the CPU load"),
    ready_file: Path | None = typer.Option(None, "--ready-file", hidden=True,
                                              help="written once the server has registered this worker"),
    voices_dir: VoicesDirOpt = [],  # noqa: B006 - the voices a dispatched persona may name
) -> None:
    """Run an agent worker that takes synthconv dispatches (start many, on many machines)."""
    import asyncio
    import logging

    from ..config import EngineSpec
    from ..engine import EngineError, make_engine
    from ..errors import LiveKitError
    from ..transport.livekit import LiveKitConfig
    from ..transport.livekit_agent import PRELOAD_ENV, make_server

    set_livekit_env(livekit_url, livekit_api_key, livekit_api_secret)
    for d in voices_dir:
        if not d.is_dir():
            fail(f"--voices-dir: {d}: no such folder")
    use_voice_folders([d.resolve() for d in voices_dir])  # job processes inherit it
    try:
        cfg = LiveKitConfig.from_env()
        make_engine(EngineSpec(name=preload))  # a bad name is one line here, not an error in every job process
    except (LiveKitError, EngineError) as e:
        fail(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if os.environ.get("SYNTHCONV_DEBUG"):
        logging.getLogger("synthconv").setLevel(logging.DEBUG)
        logging.getLogger("livekit.agents").setLevel(logging.DEBUG)
    os.environ[PRELOAD_ENV] = preload  # job processes inherit it
    server = make_server(cfg.url, cfg.api_key, cfg.api_secret, idle_processes=idle_processes,
                         load_threshold=load_threshold, max_jobs=max_jobs)
    if ready_file is not None:
        server.on("worker_registered", lambda *_: ready_file.write_text("registered\n"))
    try:
        asyncio.run(server.run())
    except KeyboardInterrupt:
        pass


IDLE_MAX = 8  # prewarmed job processes of the local worker at most (each holds the models: ~0.4 GB)


class LocalWorker:
    """The `synthconv worker` a LiveKit `generate` runs next to itself."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_local_worker(out: Path, engine: EngineSpec, rooms: int, timeout: float = 120.0) -> LocalWorker:
    """`synthconv worker` next to this run (its log goes to RUN/worker.log), with a prewarmed
    job process for each agent of `rooms` rooms at once (at most IDLE_MAX: the worker takes only
    as many rooms as its cores carry, and starts more processes as jobs take them). Returns once
    the server has registered it: a dispatch sent before that is dropped. Its environment carries
    the engine's settings as given, credentials in URLs included (a dispatch carries them
    redacted)."""
    import shutil
    import tempfile

    from ..engine.openai.config import ENV as OPENAI_ENV
    from ..process import die_with_parent

    env = {**os.environ, **{OPENAI_ENV[k]: v for k, v in engine.openai.given().items()}}

    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="synthconv-worker-"))
    ready = folder / "ready"
    try:
        with open(out / "worker.log", "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "worker", "--preload", engine.name,
                                     "--idle-processes", str(min(2 * rooms, IDLE_MAX)), "--ready-file", str(ready)],
                                    stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                    preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                fail(f"the local agent worker did not register with {os.environ['LIVEKIT_URL']} within {timeout:g} s "
                     f"(see {out / 'worker.log'})")
            time.sleep(0.1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return LocalWorker(proc)
