"""The command line: `synthconv generate | scenarios | personas`.

Bad input (a broken file, an unknown id, a bad flag value, an unwritable folder) ends with one
line on stderr naming the thing and exit code 2, before anything is written.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, Library, LibraryError, load_library

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Generate datasets of synthetic spoken conversations between two voice agents.")
console = Console(soft_wrap=True)  # long paths and errors stay on one line
err = Console(stderr=True, soft_wrap=True)

ScenariosDir = typer.Option(DEFAULT_SCENARIOS, "--scenarios-dir", help="Folder of scenario YAML files.")
PersonasDir = typer.Option(DEFAULT_PERSONAS, "--personas-dir", help="Folder of persona YAML files.")


MAX_COUNT = 100_000  # a plan is held in memory and in run.json; far beyond any nightly run


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _library(scenarios_dir: Path, personas_dir: Path) -> Library:
    try:
        return load_library(scenarios_dir, personas_dir)
    except LibraryError as e:
        fail(str(e))


def _restrict(library: Library, scenarios: list[str], personas: list[str]) -> Library:
    """Keep only the named scenarios, and only the named personas in their pools."""
    for sid in scenarios:
        if sid not in library.scenarios:
            fail(f"--scenario: unknown scenario {sid!r} (see `synthconv scenarios`)")
    for pid in personas:
        if pid not in library.personas:
            fail(f"--persona: unknown persona {pid!r} (see `synthconv personas`)")
    chosen = {k: v for k, v in library.scenarios.items() if not scenarios or k in scenarios}
    if personas:
        kept = {}
        for sid, sc in chosen.items():
            roles = {}
            for key, role in sc.roles.items():
                pool = [p for p in role.personas if p in personas] or role.personas
                roles[key] = role.model_copy(update={"personas": pool})
            kept[sid] = sc.model_copy(update={"roles": roles})
        chosen = kept
    return Library(scenarios=chosen, personas=library.personas)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        fail(f"--out: {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        fail(f"--out: {out} is not empty; choose a new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        fail(f"--out: cannot write to {out} ({e.strerror})")


@app.command()
def generate(
    count: Optional[int] = typer.Option(None, "--count", "-n", help="How many conversations to plan [default: 10]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder [default: output/<timestamp>]."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Same seed, same plan, same conversations [default: 0]."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j",
                                              help="Conversations at once, one worker process each [default: cores]."),
    engine: Optional[str] = typer.Option(None, "--engine", help="offline, openai-realtime, openai-pipeline, or module:Class [default: offline]."),
    transport: Optional[str] = typer.Option(None, "--transport", help="local or livekit [default: local]."),
    scenario: list[str] = typer.Option([], "--scenario", help="Only these scenario ids (repeatable)."),
    persona: list[str] = typer.Option([], "--persona", help="Prefer these persona ids (repeatable)."),
    job_timeout: Optional[float] = typer.Option(None, "--job-timeout", help="Seconds one conversation may take [default: 300]."),
    retries: Optional[int] = typer.Option(None, "--retries", help="Retries of a transient failure, with backoff [default: 1]."),
    max_failure_rate: Optional[float] = typer.Option(
        None, "--max-failure-rate", help="Stop once more than this fraction of the plan has failed [default: 1]."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the interrupted run in this folder."),
    livekit_url: Optional[str] = typer.Option(None, "--livekit-url", help="LiveKit server [env LIVEKIT_URL]."),
    livekit_api_key: Optional[str] = typer.Option(None, "--livekit-api-key", help="[env LIVEKIT_API_KEY]"),
    livekit_api_secret: Optional[str] = typer.Option(None, "--livekit-api-secret", help="[env LIVEKIT_API_SECRET]"),
    no_local_worker: bool = typer.Option(False, "--no-local-worker",
                                         help="Do not start an agent worker here; use the ones already running."),
    scenarios_dir: Optional[Path] = typer.Option(None, "--scenarios-dir", help="Folder of scenario YAML files."),
    personas_dir: Optional[Path] = typer.Option(None, "--personas-dir", help="Folder of persona YAML files."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible API of the openai-* engines "
                                           "[env OPENAI_BASE_URL; key from env OPENAI_API_KEY]."),
    llm_base_url: Optional[str] = typer.Option(None, "--llm-base-url", help="Only for the LLM (openai-pipeline)."),
    stt_base_url: Optional[str] = typer.Option(None, "--stt-base-url", help="Only for the STT (openai-pipeline)."),
    tts_base_url: Optional[str] = typer.Option(None, "--tts-base-url", help="Only for the TTS (openai-pipeline)."),
    realtime_base_url: Optional[str] = typer.Option(None, "--realtime-base-url", help="Only for openai-realtime."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", help="LLM of openai-pipeline (default gpt-4.1-mini)."),
    stt_model: Optional[str] = typer.Option(None, "--stt-model", help="STT, and the Realtime input transcription "
                                            "(default gpt-4o-mini-transcribe)."),
    tts_model: Optional[str] = typer.Option(None, "--tts-model", help="TTS of openai-pipeline (default gpt-4o-mini-tts)."),
    realtime_model: Optional[str] = typer.Option(None, "--realtime-model", help="Model of openai-realtime (default gpt-realtime)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start a large paid run without asking (see the estimate)."),
) -> None:
    """Plan COUNT scenario x persona jobs and generate a conversation for each."""
    from .engine import EngineError, make_engine
    from .job import Job, plan
    from .run import Settings, completed, run
    from .runfolder import RunFolderError, RunLock
    from .transport import TRANSPORTS

    given = {k: v for k, v in {
        "count": count, "seed": seed, "concurrency": concurrency, "engine": engine, "transport": transport,
        "job_timeout": job_timeout, "retries": retries, "max_failure_rate": max_failure_rate,
        "scenarios_dir": scenarios_dir, "personas_dir": personas_dir}.items() if v is not None}
    if scenario:
        given["scenario"] = scenario
    if persona:
        given["persona"] = persona
    if resume is not None:
        if out is not None:
            fail("--resume: give the run folder to --resume only, not --out")
        flags, out, resume_info = _resumable(resume, given)
    else:
        flags = {"count": 10, "seed": 0, "concurrency": os.cpu_count() or 1, "engine": "offline",
                 "transport": "local", "scenario": [], "persona": [], "job_timeout": 300.0, "retries": 1,
                 "max_failure_rate": 1.0, "scenarios_dir": str(DEFAULT_SCENARIOS),
                 "personas_dir": str(DEFAULT_PERSONAS), **{k: (str(v) if isinstance(v, Path) else v)
                                                            for k, v in given.items()}}
    for name, low in (("count", 1), ("concurrency", 1), ("retries", 0), ("seed", 0)):
        if flags[name] < low:
            fail(f"--{name} must be at least {low} (got {flags[name]})")
    if flags["count"] > MAX_COUNT:
        fail(f"--count must be at most {MAX_COUNT} (got {flags['count']}); split the dataset into several runs")
    if not 0 <= flags["max_failure_rate"] <= 1:
        fail(f"--max-failure-rate must be between 0 and 1 (got {flags['max_failure_rate']})")
    if not 0 < flags["job_timeout"] < math.inf:
        fail(f"--job-timeout must be a positive number of seconds (got {flags['job_timeout']})")
    if flags["transport"] not in TRANSPORTS:
        fail(f"--transport: unknown transport {flags['transport']!r} (choose from {', '.join(TRANSPORTS)})")
    library = _restrict(_library(Path(flags["scenarios_dir"]), Path(flags["personas_dir"])),
                        flags["scenario"], flags["persona"])
    if resume is not None:
        jobs = [Job.from_dict(j) for j in resume_info["jobs"]]
        unknown = [j.id for j in jobs if j.scenario not in library.scenarios]
        if unknown:
            fail(f"--resume: the library no longer has the scenario of {unknown[0]}")
    else:
        jobs = plan(library, flags["count"], flags["seed"])
    _openai_env(flags, {"base_url": base_url, "llm_base_url": llm_base_url, "stt_base_url": stt_base_url,
                        "tts_base_url": tts_base_url, "realtime_base_url": realtime_base_url,
                        "llm_model": llm_model, "stt_model": stt_model, "tts_model": tts_model,
                        "realtime_model": realtime_model})
    try:
        used = sorted({p for j in jobs for p in j.roles.values()})
        chosen_engine = make_engine(flags["engine"])
        chosen_engine.check([library.personas[p] for p in used])
    except EngineError as e:
        fail(str(e))
    _confirm_cost(chosen_engine, [j for j in jobs if resume is None or j.id not in completed(out, jobs)],
                  library, yes)
    if flags["transport"] == "livekit":
        _livekit_env(livekit_url, livekit_api_key, livekit_api_secret)
        flags["livekit_url"] = os.environ["LIVEKIT_URL"]  # the key and secret are never written
    if resume is None:
        out = out or Path("output") / datetime.now().strftime("%Y%m%d-%H%M%S")
        _check_out(out)
        flags["out"] = str(out)
    try:
        lock = RunLock(out).acquire()  # held until this process ends: one writer per run
    except RunFolderError as e:
        fail(str(e))

    local_worker = None
    if flags["transport"] == "livekit" and not no_local_worker:
        local_worker = _start_local_worker(out, flags["engine"], flags["concurrency"])

    settings = Settings(scenarios_dir=Path(flags["scenarios_dir"]), personas_dir=Path(flags["personas_dir"]),
                        engine=flags["engine"], transport=flags["transport"], concurrency=flags["concurrency"],
                        job_timeout=flags["job_timeout"], retries=flags["retries"],
                        max_failure_rate=flags["max_failure_rate"])
    run_info = {"flags": flags, "seed": flags["seed"], "count": flags["count"]}
    progress = _Progress(len(jobs), already=completed(out, jobs) if resume is not None else {})
    t0 = time.monotonic()
    progress.start()
    try:
        outcome = run(out, jobs, run_info, settings, resume=resume is not None, on_result=progress.update)
    except RunFolderError as e:
        progress.stop()
        fail(str(e))
    finally:
        progress.stop()
        if local_worker is not None:
            local_worker.terminate()
            try:
                local_worker.wait(10)
            except subprocess.TimeoutExpired:
                local_worker.kill()
        lock.release()
    _summary(out, jobs, outcome.results, time.monotonic() - t0, already=set(progress.already_ids))
    if outcome.stopped:
        err.print(outcome.stopped, highlight=False, markup=False)
    if outcome.signal is not None or outcome.stopped:
        err.print(f"resume with: synthconv generate --resume {out}", highlight=False, markup=False)
    if outcome.signal is not None:
        raise typer.Exit(128 + outcome.signal)
    if len(outcome.results) < len(jobs) or any(r["status"] != "ok" for r in outcome.results.values()):
        raise typer.Exit(1)


def _livekit_flags(url: Optional[str], key: Optional[str], secret: Optional[str]) -> None:
    """Flags override LIVEKIT_URL / _API_KEY / _API_SECRET; child processes inherit them."""
    for var, value in (("LIVEKIT_URL", url), ("LIVEKIT_API_KEY", key), ("LIVEKIT_API_SECRET", secret)):
        if value:
            os.environ[var] = value


def _livekit_env(url: Optional[str], key: Optional[str], secret: Optional[str]) -> None:
    """Flags override the environment; worker processes inherit it. One line if anything is missing."""
    import asyncio

    from .transport.livekit import LiveKitConfig, LiveKitError, check_server

    _livekit_flags(url, key, secret)
    try:
        asyncio.run(check_server(LiveKitConfig.from_env()))
    except LiveKitError as e:
        fail(str(e))


OPENAI_ENV = {"base_url": "OPENAI_BASE_URL", **{f"{part}_{what}": f"SYNTHCONV_OPENAI_{part.upper()}_{what.upper()}"
                                                 for part in ("llm", "stt", "tts", "realtime")
                                                 for what in ("base_url", "model")}}


def _openai_env(flags: dict, given: dict) -> None:
    """The openai-* engines read their settings from the environment (so remote workers can be
    configured the same way): flags set it here, and worker processes inherit it. Given flags are
    recorded in run.json (URLs without credentials; the key never is); on --resume the recorded
    ones are set again unless given anew."""
    from urllib.parse import urlsplit

    for name, value in given.items():
        if value:
            os.environ[OPENAI_ENV[name]] = value
            parts = urlsplit(value)
            if name.endswith("base_url") and (parts.username or parts.password):  # user:secret@host
                value = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
            flags[name] = value
    for name, var in OPENAI_ENV.items():
        if flags.get(name) and not given.get(name):
            os.environ[var] = flags[name]


def _confirm_cost(engine, jobs: list, library: Library, yes: bool) -> None:  # noqa: ANN001
    """Print a paid engine's estimate of API audio minutes; above its threshold, ask (or, when
    nobody can answer, require --yes)."""
    estimate = getattr(engine, "cost_estimate", None)
    if estimate is None or not jobs:
        return
    minutes, threshold, line = estimate(jobs, library)
    if minutes <= threshold or yes:
        console.print(f"estimate: {line}", highlight=False, markup=False)
        return
    if not sys.stdin.isatty():
        fail(f"{line}, more than {threshold:g} (SYNTHCONV_OPENAI_CONFIRM_MINUTES): add --yes to go ahead")
    console.print(f"estimate: {line}", highlight=False, markup=False)
    if not typer.confirm("Go ahead?", default=False):
        fail("not started: the estimate was declined")


def _start_local_worker(out: Path, engine: str, rooms: int, timeout: float = 120.0) -> subprocess.Popen:
    """`synthconv worker` next to this run (its log goes to RUN/worker.log), with a prewarmed
    job process for each agent of `rooms` rooms at once. Returns once the server has registered
    it: a dispatch sent before that is dropped, and costs the job a 20 s wait for its re-dispatch."""
    import tempfile

    from .worker import die_with_parent

    out.mkdir(parents=True, exist_ok=True)
    ready = Path(tempfile.mkdtemp(prefix="synthconv-worker-")) / "ready"
    log = open(out / "worker.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "worker", "--preload", engine,
                             "--idle-processes", str(2 * rooms), "--ready-file", str(ready)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            fail(f"the local agent worker did not register with {os.environ['LIVEKIT_URL']} within {timeout:g} s "
                 f"(see {out / 'worker.log'})")
        time.sleep(0.1)
    ready.unlink()
    ready.parent.rmdir()
    return proc


@app.command()
def worker(
    livekit_url: Optional[str] = typer.Option(None, "--livekit-url", help="[env LIVEKIT_URL]"),
    livekit_api_key: Optional[str] = typer.Option(None, "--livekit-api-key", help="[env LIVEKIT_API_KEY]"),
    livekit_api_secret: Optional[str] = typer.Option(None, "--livekit-api-secret", help="[env LIVEKIT_API_SECRET]"),
    preload: str = typer.Option("offline", "--preload",
                                help="engine each job process loads before taking a job (each dispatch names its own)"),
    idle_processes: int = typer.Option(2, "--idle-processes", min=0,
                                       help="job processes kept loaded and waiting (one per agent at once is ideal)"),
    ready_file: Optional[Path] = typer.Option(None, "--ready-file", hidden=True,
                                              help="written once the server has registered this worker"),
) -> None:
    """Run an agent worker that takes synthconv dispatches (start many, on many machines)."""
    import asyncio
    import logging

    from .engine import EngineError, make_engine
    from .transport.livekit import LiveKitConfig, LiveKitError
    from .transport.livekit_agent import PRELOAD_ENV, make_server

    _livekit_flags(livekit_url, livekit_api_key, livekit_api_secret)
    try:
        cfg = LiveKitConfig.from_env()
        make_engine(preload)  # a bad name is one line here, not an error in every job process
    except (LiveKitError, EngineError) as e:
        fail(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if os.environ.get("SYNTHCONV_DEBUG"):
        logging.getLogger("synthconv").setLevel(logging.DEBUG)
        logging.getLogger("livekit.agents").setLevel(logging.DEBUG)
    os.environ[PRELOAD_ENV] = preload  # job processes inherit it
    server = make_server(cfg.url, cfg.api_key, cfg.api_secret, idle_processes=idle_processes)
    if ready_file is not None:
        server.on("worker_registered", lambda *_: ready_file.write_text("registered\n"))
    try:
        asyncio.run(server.run())
    except KeyboardInterrupt:
        pass


def _resumable(run_dir: Path, given: dict) -> tuple[dict, Path, dict]:
    """The flags of the run in `run_dir`, with the ones that may change on resume overridden, and
    its run.json."""
    from .runfolder import RunFolderError, read_run_info

    try:
        info = read_run_info(run_dir)
    except RunFolderError as e:
        fail(f"--resume: {e}")
    flags = info["flags"]
    expected = {"count": int, "seed": int, "concurrency": int, "engine": str, "transport": str, "scenario": list,
                "persona": list, "job_timeout": (int, float), "retries": int, "max_failure_rate": (int, float),
                "scenarios_dir": str, "personas_dir": str}
    for name, kind in expected.items():
        if not isinstance(flags.get(name), kind) or isinstance(flags.get(name), bool):
            fail(f"--resume: {run_dir / 'run.json'}: field flags.{name}: missing or not a {getattr(kind, '__name__', 'number')}")
    fixed = {"count", "seed", "engine", "transport", "scenario", "persona", "scenarios_dir", "personas_dir"}
    clash = sorted(fixed & set(given))
    if clash:
        fail(f"--resume: the plan comes from {run_dir / 'run.json'}; drop --{clash[0].replace('_', '-')}")
    return {**flags, **given}, run_dir, info


class _Progress:
    """A rich progress bar on a terminal; plain lines otherwise (CI logs)."""

    def __init__(self, total: int, already: dict) -> None:
        self.total, self.done, self.already_ids = total, len(already), list(already)
        self.bar = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("{task.description}"), console=console)
            self.task = self.bar.add_task("", total=total, completed=self.done)

    def start(self) -> None:
        if self.bar:
            self.bar.start()

    def update(self, r: dict) -> None:
        self.done += 1
        status = "ok" if r["status"] == "ok" else f"FAILED {r['error']}"
        line = f"[{self.done}/{self.total}] {r['id']} {status}"
        if self.bar:
            self.bar.console.print(line, highlight=False, markup=False)
            self.bar.update(self.task, advance=1, description=r["id"])
        else:
            console.print(line, highlight=False, markup=False)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


def _summary(out: Path, jobs: list, results: dict[str, dict], wall: float, already: set[str]) -> None:
    ok = [r for r in results.values() if r["status"] == "ok"]
    audio = sum(r["duration_s"] or 0 for r in ok if r["id"] not in already)  # made by this invocation
    table = Table(title=f"run {escape(str(out))}")
    for col in ("scenario", "ok", "failed", "audio s", "turns"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    by: dict[str, list[dict]] = {}
    for j in jobs:
        by.setdefault(j.scenario, []).append(results.get(j.id, {"status": "failed"}))
    for sid, rs in sorted(by.items()):
        oks = [r for r in rs if r["status"] == "ok"]
        table.add_row(sid, str(len(oks)), str(len(rs) - len(oks)),
                      f"{sum(r['duration_s'] for r in oks):.1f}", str(sum(r["turns"] for r in oks)))
    console.print(table)
    console.print(f"{len(ok)}/{len(jobs)} ok; this invocation made {audio:.1f} s of audio in {wall:.1f} s "
                  f"({audio / wall if wall else 0:.1f}x real time)", highlight=False)
    for r in results.values():
        if r["status"] != "ok":
            console.print(f"failed {r['id']}: {r['error']}", highlight=False, markup=False)


@app.command()
def inspect(
    run: Path = typer.Argument(..., help="A run folder."),
    conversation: Optional[str] = typer.Argument(None, help="One conversation id: print its timed transcript."),
    validate: bool = typer.Option(False, "--validate", help="Check every conversation against docs/FORMAT.md."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Summarize a run (complete, running or interrupted), validate it, or show one conversation."""
    from .inspect import RunError, read_run, summarize, validate_conversation, validate_run

    try:
        view = read_run(run)
    except RunError as e:
        if as_json:  # the nightly recipe stores this output: it is JSON whatever happened
            print(json.dumps({"run": str(run), "state": "unreadable", "problems": {"run": [str(e)]}},
                             indent=2, ensure_ascii=False))
        fail(str(e))
    if conversation is not None:
        _show_conversation(run, view, conversation, validate, as_json, validate_conversation)
        return
    summary = summarize(view)
    problems = validate_run(view) if validate else {}
    if validate:
        summary["problems"] = problems
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
        if validate:
            for cid, found in problems.items():
                for p in found:
                    console.print(f"{cid}: {p}", highlight=False, markup=False)
            checked = summary["by_status"].get("ok", 0)
            console.print(f"validated {checked} conversations: "
                          + (f"{len(problems)} with problems" if problems else "all valid"), highlight=False)
    if problems:
        raise typer.Exit(1)


def _show_conversation(run: Path, view: dict, cid: str, validate: bool, as_json: bool, check) -> None:  # noqa: ANN001
    import jsonlines

    from .inspect import TURN_FIELDS

    row = next((r for r in view["conversations"] if r["id"] == cid), None)
    if row is None:
        fail(f"{run}: no conversation {cid!r} in this run")
    folder = run / "conversations" / cid
    turns = []
    try:
        if (folder / "transcript.jsonl").is_file():
            with jsonlines.open(folder / "transcript.jsonl") as reader:
                turns = [t for t in reader if isinstance(t, dict) and TURN_FIELDS <= set(t)]
    except (OSError, jsonlines.InvalidLineError) as e:
        fail(f"{folder / 'transcript.jsonl'}: damaged ({e}); see `synthconv inspect {run} --validate`")
    problems = check(folder) if validate and row["status"] == "ok" else []
    if as_json:
        print(json.dumps({**row, "transcript": turns, **({"problems": problems} if validate else {})},
                         indent=2, ensure_ascii=False))
    else:
        console.print(f"[bold]{cid}[/] {escape(str(row['status']))} {row['scenario']} "
                      + ", ".join(f"{k}={v}" for k, v in row["roles"].items()), highlight=False)
        if row.get("error"):
            console.print(f"error: {row['error']}", highlight=False, markup=False)
        for t in turns:
            mark = "" if t.get("heard") in (t["text"], None) else f"   (heard: {t['heard']})"
            console.print(f"\\[{t['start']:7.2f} → {t['end']:7.2f}] [bold]{escape(str(t['speaker']))}[/] "
                          f"({escape(str(t['role']))}): {escape(str(t['text']) + mark)}", highlight=False)
        for p in problems:
            console.print(f"{cid}: {p}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)


def _print_summary(s: dict) -> None:
    console.print(f"[bold]{escape(s['run'])}[/]: {escape(s['state'])}; {s['planned']} planned, "
                  + ", ".join(f"{n} {k}" for k, n in sorted(s["by_status"].items())), highlight=False)
    d, t = s["duration_s"], s["turns"]
    if d["mean"] is not None:
        console.print(f"audio {d['total']:.1f} s (mean {d['mean']:.1f} s), turns {t['total']} (mean {t['mean']})",
                      highlight=False)
    for title, key in (("by scenario", "by_scenario"), ("by persona", "by_persona")):
        table = Table(title=title)
        for col in (title.split()[-1], "ok", "failed", "pending"):
            table.add_column(col, justify="left" if col in ("scenario", "persona") else "right")
        for name, c in sorted(s[key].items()):
            table.add_row(name, str(c.get("ok", 0)), str(c.get("failed", 0)), str(c.get("pending", 0)))
        console.print(table)
    for f in s["failures"]:
        console.print(f"failed {f['id']}: {f['error']}", highlight=False, markup=False)


@app.command()
def scenarios(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the scenario library."""
    lib = _library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.scenarios)} scenarios (all valid)")
    for col in ("id", "domain", "lang", "roles", "beats", "turns", "title"):
        table.add_column(col)
    for sc in lib.scenarios.values():
        table.add_row(sc.id, escape(sc.domain), escape(sc.language), " / ".join(sc.role_keys), str(len(sc.script)),
                      f"{sc.turns.min}-{sc.turns.max}", escape(sc.title))
    console.print(table)


@app.command()
def personas(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the persona library."""
    lib = _library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.personas)} personas (all valid)")
    for col in ("id", "name", "roles", "locale", "offline voice", "style"):
        table.add_column(col)
    for p in lib.personas.values():
        s = p.style
        table.add_row(p.id, escape(p.name), ",".join(p.roles), escape(p.locale), escape(p.voice.offline.voice),
                      f"{s.mood}, {s.verbosity}, {s.pace}, fillers {s.fillers}, politeness {s.politeness}")
    console.print(table)


def main() -> None:
    app(prog_name="synthconv")


if __name__ == "__main__":
    sys.exit(main())
