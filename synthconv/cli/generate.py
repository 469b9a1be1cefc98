"""`synthconv generate`: plan the jobs, check everything, then run them into a run folder.

Bad input (a broken file, an unknown id, a bad flag value, an unwritable folder) ends with one
line on stderr naming the thing and exit code 2, before anything is written.

Over 300 lines because one command owns every flag that shapes a run (plan, personas, engine,
transport, turn-taking, impairments) with its check and its rule on `--resume`; splitting them
would scatter the one place that says what a run is made of.
"""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from ..scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, Library
from .common import LiveKitKey, LiveKitSecret, LiveKitURL, app, console, err, fail, library, set_livekit_env
from .progress import Progress, summary

MAX_COUNT = 100_000  # a plan is held in memory and in run.json; far beyond any nightly run
# the flags that make the plan: fixed once a run has started (--resume refuses them)
PLAN_FLAGS = {"count", "seed", "engine", "transport", "scenario", "persona", "personas", "scenarios_dir",
              "personas_dir", "turn_taking", "impair", "hearing"}
OPENAI_ENV = {"base_url": "OPENAI_BASE_URL", **{f"{part}_{what}": f"SYNTHCONV_OPENAI_{part.upper()}_{what.upper()}"
                                                 for part in ("llm", "stt", "tts", "realtime")
                                                 for what in ("base_url", "model")}}


@app.command()
def generate(
    ctx: typer.Context,
    count: int = typer.Option(10, "--count", "-n", help="How many conversations to plan."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder \\[default: output/<timestamp>]."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same plan, same conversations."),
    concurrency: int = typer.Option(os.cpu_count() or 1, "--concurrency", "-j", show_default=False,
                                    help="Conversations at once, one runner process each \\[default: cores]."),
    engine: str = typer.Option("offline", "--engine",
                               help="offline, openai-realtime, openai-pipeline, or module:Class."),
    transport: str = typer.Option("local", "--transport", help="local or livekit."),
    turn_taking: str = typer.Option("natural", "--turn-taking", help="natural (overlaps, backchannels, "
                                    "interruptions, disfluencies) or strict (gaps of 0.15-0.8 s); local transport."),
    hearing: Optional[str] = typer.Option(
        None, "--hearing", help="How offline agents hear each other: whisper (a real recognizer, English; other "
        "languages hear the transcript) or transcript (the words the peer published, faster) "
        "\\[default: whisper on the local transport, transcript in LiveKit rooms]."),
    scenario: list[str] = typer.Option([], "--scenario", help="Only these scenario ids (repeatable)."),
    persona: list[str] = typer.Option([], "--persona", help="Prefer these persona ids (repeatable; "
                                      "implies --personas files unless given)."),
    personas: str = typer.Option("sampled", "--personas", help="Speakers: sampled (drawn from axes, a new one "
                                 "each time), files (the persona files), or mixed (a quarter from files)."),
    job_timeout: float = typer.Option(300.0, "--job-timeout", help="Seconds one conversation may take."),
    retries: int = typer.Option(1, "--retries", help="Retries of a transient failure, with backoff."),
    max_failure_rate: float = typer.Option(
        1.0, "--max-failure-rate", help="Stop once more than this fraction of the plan has failed."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the interrupted run in this folder."),
    livekit_url: Optional[str] = LiveKitURL,
    livekit_api_key: Optional[str] = LiveKitKey,
    livekit_api_secret: Optional[str] = LiveKitSecret,
    no_local_worker: bool = typer.Option(False, "--no-local-worker",
                                         help="Do not start an agent worker here; use the ones already running."),
    scenarios_dir: Path = typer.Option(DEFAULT_SCENARIOS, "--scenarios-dir", help="Folder of scenario YAML files."),
    personas_dir: Path = typer.Option(DEFAULT_PERSONAS, "--personas-dir", help="Folder of persona YAML files."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible API of the openai-* engines "
                                           "\\[env OPENAI_BASE_URL; key from env OPENAI_API_KEY]."),
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
    impair: list[str] = typer.Option([], "--impair", help="Also write impaired copies: phone, noise:snr=DB, "
                                     "loss:RATE (repeatable, combinable; see `synthconv impair`)."),
) -> None:
    """Plan COUNT scenario x persona jobs and generate a conversation for each."""
    from pydantic import ValidationError

    from ..engine import EngineError, make_engine
    from ..errors import LibraryError
    from ..personas import MODES
    from ..job import Job, plan
    from ..runfolder import RunFolderError, RunLock, completed
    from ..supervisor import Settings, run
    from ..transport import TRANSPORTS
    from ..transport.timing import TURN_TAKING

    values = {"count": count, "seed": seed, "concurrency": concurrency, "engine": engine, "transport": transport,
              "hearing": hearing, "scenario": scenario, "persona": persona, "personas": personas,
              "job_timeout": job_timeout, "retries": retries, "max_failure_rate": max_failure_rate,
              "turn_taking": turn_taking, "scenarios_dir": str(scenarios_dir), "personas_dir": str(personas_dir),
              "impair": impair}
    # by name: typer >= 0.2x vendors its own click, whose ParameterSource is not click's
    given = {k: v for k, v in values.items() if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    if resume is not None:
        if out is not None:
            fail("--resume: give the run folder to --resume only, not --out")
        flags, out, resume_info = _resumable(resume, given)
    else:
        flags = values
        if persona and "personas" not in given:
            flags["personas"] = "files"  # preferring persona files means playing them
    for name, low in (("count", 1), ("concurrency", 1), ("retries", 0), ("seed", 0)):
        if flags[name] < low:
            fail(f"--{name} must be at least {low} (got {flags[name]})")
    if flags["count"] > MAX_COUNT:
        fail(f"--count must be at most {MAX_COUNT} (got {flags['count']}); split the dataset into several runs")
    if not 0 <= flags["max_failure_rate"] <= 1:
        fail(f"--max-failure-rate must be between 0 and 1 (got {flags['max_failure_rate']})")
    if not 0 < flags["job_timeout"] < math.inf:
        fail(f"--job-timeout must be a positive number of seconds (got {flags['job_timeout']})")
    if flags["personas"] not in MODES:
        fail(f"--personas: choose from {', '.join(MODES)} (got {flags['personas']!r})")
    if flags["turn_taking"] not in TURN_TAKING:
        fail(f"--turn-taking: unknown mode {flags['turn_taking']!r} (choose from {', '.join(TURN_TAKING)})")
    from ..impair import parse as parse_impair

    try:
        flags["impair"] = [i.spec() for i in parse_impair(flags.get("impair") or [])]
    except ValueError as e:
        fail(str(e))
    if flags["transport"] not in TRANSPORTS:
        fail(f"--transport: unknown transport {flags['transport']!r} (choose from {', '.join(TRANSPORTS)})")
    flags["hearing"] = _hearing(flags, "hearing" in given)
    lib = _restrict(library(Path(flags["scenarios_dir"]), Path(flags["personas_dir"])),
                    flags["scenario"], flags["persona"])
    if resume is not None:
        jobs = [Job.from_dict(j) for j in resume_info["jobs"]]
        unknown = [j.id for j in jobs if j.scenario not in lib.scenarios]
        if unknown:
            fail(f"--resume: the library no longer has the scenario of {unknown[0]}")
        for i, j in enumerate(jobs):
            try:
                j.cast(lib)
            except (KeyError, ValidationError) as e:
                fail(f"--resume: {resume / 'run.json'}: field jobs.{i}.personas: not a valid persona ({e})")
    else:
        try:
            jobs = plan(lib, flags["count"], flags["seed"], personas=flags["personas"])
        except (ValueError, LibraryError) as e:
            fail(str(e).splitlines()[0])
    _openai_env(flags, {"base_url": base_url, "llm_base_url": llm_base_url, "stt_base_url": stt_base_url,
                        "tts_base_url": tts_base_url, "realtime_base_url": realtime_base_url,
                        "llm_model": llm_model, "stt_model": stt_model, "tts_model": tts_model,
                        "realtime_model": realtime_model})
    try:
        used = {p.id: p for j in jobs for p in j.cast(lib).values()}
        chosen_engine = make_engine(flags["engine"], flags["hearing"])
        chosen_engine.check([used[p] for p in sorted(used)])
    except EngineError as e:
        fail(str(e))
    already = completed(out, jobs) if resume is not None else {}
    _confirm_cost(chosen_engine, [j for j in jobs if j.id not in already], lib, yes)
    if flags["transport"] == "livekit":
        _check_livekit(livekit_url, livekit_api_key, livekit_api_secret)
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
        from .worker import start_local_worker

        local_worker = start_local_worker(out, flags["engine"], flags["concurrency"])

    settings = Settings(scenarios_dir=Path(flags["scenarios_dir"]), personas_dir=Path(flags["personas_dir"]),
                        engine=flags["engine"], transport=flags["transport"], turn_taking=flags["turn_taking"],
                        concurrency=flags["concurrency"],
                        job_timeout=flags["job_timeout"], retries=flags["retries"],
                        max_failure_rate=flags["max_failure_rate"], impair=flags["impair"], hearing=flags["hearing"])
    run_info = {"flags": _recorded(flags, out), "seed": flags["seed"], "count": flags["count"],
                "machine_local": list(LIBRARY_FLAGS)}
    progress = Progress(len(jobs), already=already)
    t0 = time.monotonic()
    progress.start()
    try:
        outcome = run(out, jobs, run_info, settings, resume=resume is not None, on_result=progress.update,
                      on_status=progress.status)
    except RunFolderError as e:
        outcome = e
    finally:
        progress.stop()
        if local_worker is not None:
            local_worker.stop()
        lock.release()
    if isinstance(outcome, RunFolderError):
        fail(str(outcome))
    summary(out, jobs, outcome.results, time.monotonic() - t0, already=set(already))
    if outcome.stopped:
        err.print(outcome.stopped, highlight=False, markup=False)
    if outcome.signal is not None or outcome.stopped:
        err.print(f"resume with: synthconv generate --resume {out}", highlight=False, markup=False)
    if outcome.signal is not None:
        raise typer.Exit(128 + outcome.signal)
    if len(outcome.results) < len(jobs) or not all(r.ok for r in outcome.results.values()):
        raise typer.Exit(1)


def _restrict(lib: Library, scenarios: list[str], personas: list[str]) -> Library:
    """Keep only the named scenarios, and only the named personas in their pools."""
    for sid in scenarios:
        if sid not in lib.scenarios:
            fail(f"--scenario: unknown scenario {sid!r} (see `synthconv scenarios`)")
    for pid in personas:
        if pid not in lib.personas:
            fail(f"--persona: unknown persona {pid!r} (see `synthconv personas`)")
    chosen = {k: v for k, v in lib.scenarios.items() if not scenarios or k in scenarios}
    if personas:
        kept = {}
        for sid, sc in chosen.items():
            roles = {}
            for key, role in sc.roles.items():
                pool = [p for p in role.personas if p in personas] or role.personas
                roles[key] = role.model_copy(update={"personas": pool})
            kept[sid] = sc.model_copy(update={"roles": roles})
        chosen = kept
    return Library(scenarios=chosen, personas=lib.personas, locales=lib.locales)


LIBRARY_FLAGS = ("scenarios_dir", "personas_dir")  # folders on the machine that made the run


def _recorded(flags: dict, out: Path) -> dict:
    """The flags as run.json keeps them: no absolute paths. `out` is the run itself ("."), the
    library folders are relative to the run (run.json's `machine_local` names them)."""
    rel = {k: Path(os.path.relpath(Path(flags[k]).resolve(), Path(out).resolve())).as_posix() for k in LIBRARY_FLAGS}
    return {**flags, "out": ".", **rel}


def _hearing(flags: dict, given: bool) -> str | None:
    """The offline engine's hearing: whisper by default on the local transport; LiveKit rooms keep
    hearing the published transcript. Other engines hear with their own STT (None)."""
    value = flags.get("hearing")
    if flags["engine"] != "offline":
        if given:
            fail(f"--hearing: only the offline engine has a choice of hearing ({flags['engine']} has its own STT)")
        return None
    from ..engine.offline import HEARINGS

    if value is None:
        return "whisper" if flags["transport"] == "local" else "transcript"
    if value not in HEARINGS:
        fail(f"--hearing: unknown hearing {value!r} (choose from {', '.join(HEARINGS)})")
    if value == "whisper" and flags["transport"] == "livekit":
        fail("--hearing whisper: LiveKit rooms hear by the published transcript for now; use --hearing transcript")
    return value


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


def _resumable(run_dir: Path, given: dict) -> tuple[dict, Path, dict]:
    """The flags of the run in `run_dir`, with the ones that may change on resume overridden, and
    its run.json."""
    from ..runfolder import RunFolderError, read_run_info

    try:
        info = read_run_info(run_dir)
    except RunFolderError as e:
        fail(f"--resume: {e}")
    # runs before 1.2 played persona files only, with the strict turn-taking clock
    flags = {"turn_taking": "strict", "personas": "files", **info["flags"]}
    expected = {"count": int, "seed": int, "concurrency": int, "engine": str, "transport": str, "scenario": list,
                "persona": list, "job_timeout": (int, float), "retries": int, "max_failure_rate": (int, float),
                "turn_taking": str, "scenarios_dir": str, "personas_dir": str}
    for name, kind in expected.items():
        if not isinstance(flags.get(name), kind) or isinstance(flags.get(name), bool):
            fail(f"--resume: {run_dir / 'run.json'}: field flags.{name}: missing or not a {getattr(kind, '__name__', 'number')}")
    if "machine_local" in info:  # since 1.2 the library folders are recorded relative to the run
        flags = {**flags, **{k: str(run_dir / flags[k]) for k in LIBRARY_FLAGS}}
    if "hearing" not in flags and flags.get("engine") == "offline":
        flags["hearing"] = "transcript"  # a run from before --hearing heard the transcript
    clash = sorted(PLAN_FLAGS & set(given))
    if clash:
        fail(f"--resume: the plan comes from {run_dir / 'run.json'}; drop --{clash[0].replace('_', '-')}")
    return {**flags, **given}, run_dir, info


def _check_livekit(url: Optional[str], key: Optional[str], secret: Optional[str]) -> None:
    """Flags override the environment; runner processes inherit it. One line if anything is
    missing, the server is unreachable or refuses the credentials."""
    import asyncio

    from ..errors import LiveKitError
    from ..transport.livekit import LiveKitConfig, check_server

    set_livekit_env(url, key, secret)
    try:
        asyncio.run(check_server(LiveKitConfig.from_env()))
    except LiveKitError as e:
        fail(str(e))


def _openai_env(flags: dict, given: dict) -> None:
    """The openai-* engines read their settings from the environment (so remote workers can be
    configured the same way): flags set it here, and runner processes inherit it. Given flags are
    recorded in run.json (URLs without credentials; the key never is); on --resume the recorded
    ones are set again unless given anew."""
    for name, value in given.items():
        if value:
            os.environ[OPENAI_ENV[name]] = value
            if name.endswith("base_url"):
                from ..engine.openai.config import redact_url

                value = redact_url(value)
            flags[name] = value
    for name, var in OPENAI_ENV.items():
        if flags.get(name) and not given.get(name):
            os.environ[var] = flags[name]


def _confirm_cost(engine, jobs: list, lib: Library, yes: bool) -> None:  # noqa: ANN001
    """Print a paid engine's estimate of API audio minutes; above its threshold, ask (or, when
    nobody can answer, require --yes)."""
    estimate = engine.cost_estimate(jobs, lib) if jobs else None
    if estimate is None:
        return
    minutes, threshold, line = estimate
    if minutes <= threshold or yes:
        console.print(f"estimate: {line}", highlight=False, markup=False)
        return
    if not sys.stdin.isatty():
        fail(f"{line}, more than {threshold:g} (SYNTHCONV_OPENAI_CONFIRM_MINUTES): add --yes to go ahead")
    console.print(f"estimate: {line}", highlight=False, markup=False)
    if not typer.confirm("Go ahead?", default=False):
        fail("not started: the estimate was declined")
