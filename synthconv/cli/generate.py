"""`synthconv generate`: build the run's config, check everything, run the jobs, report.

Bad input (a broken file, an unknown id, a bad flag value, an unwritable folder) ends with one
line on stderr naming the thing and exit code 2, before anything is written. What each flag
means, its default and its check live in config.RunConfig; this module only reads flags.

Over 300 lines because typer declares each of the command's 30 flags in its signature.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import RunConfig
from ..errors import ConfigError
from ..scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, Library
from ..voices import use_voice_folders
from .common import (
    LiveKitKeyOpt,
    LiveKitSecretOpt,
    LiveKitURLOpt,
    PersonasDirOpt,
    ScenariosDirOpt,
    app,
    console,
    err,
    fail,
    library,
    set_livekit_env,
)
from .progress import Progress, summary
from .voices import VoicesDirOpt

Opt = typer.Option


@app.command()
def generate(
    ctx: typer.Context,
    count: Annotated[int, Opt("--count", "-n", help="How many conversations to plan.")] = 10,
    out: Annotated[Path | None, Opt("--out", "-o", help="Run folder \\[default: output/<timestamp>].")] = None,
    seed: Annotated[int, Opt("--seed", help="Same seed, same plan, same conversations.")] = 0,
    concurrency: Annotated[int, Opt("--concurrency", "-j", show_default=False,
                                    help="Conversations at once, one runner process each \\[default: cores].")]
    = RunConfig.model_fields["concurrency"].default,
    engine: Annotated[str, Opt("--engine", help="offline, openai-realtime, openai-pipeline, or module:Class.")]
    = "offline",
    transport: Annotated[str, Opt("--transport", help="local or livekit.")] = "local",
    turn_taking: Annotated[str, Opt("--turn-taking", help="natural (overlaps, backchannels, interruptions, "
                                    "disfluencies) or strict (gaps of 0.15-0.8 s); local transport.")] = "natural",
    hearing: Annotated[str | None, Opt(
        "--hearing", help="How offline agents hear each other: whisper (a real recognizer, English; other "
        "languages hear the transcript) or transcript (the words the peer published, faster) "
        "\\[default: whisper on the local transport, transcript in LiveKit rooms].")] = None,
    scenario: Annotated[list[str], Opt("--scenario", help="Only these scenario ids (repeatable).")] = [],  # noqa: B006
    persona: Annotated[list[str], Opt("--persona", help="Prefer these persona ids (repeatable; implies --personas "
                                      "files unless given).")] = [],  # noqa: B006
    personas: Annotated[str, Opt("--personas", help="Speakers: sampled (drawn from axes, a new one each time), "
                                 "files (the persona files), or mixed (a quarter from files).")] = "sampled",
    job_timeout: Annotated[float, Opt("--job-timeout", help="Seconds one conversation may take.")] = 300.0,
    retries: Annotated[int, Opt("--retries", help="Retries of a transient failure, with backoff.")] = 1,
    max_failure_rate: Annotated[float, Opt("--max-failure-rate",
                                           help="Stop once more than this fraction of the plan has failed.")] = 1.0,
    resume: Annotated[Path | None, Opt("--resume", help="Continue the interrupted run in this folder.")] = None,
    livekit_url: LiveKitURLOpt = None,
    livekit_api_key: LiveKitKeyOpt = None,
    livekit_api_secret: LiveKitSecretOpt = None,
    no_local_worker: Annotated[bool, Opt("--no-local-worker", help="Do not start an agent worker here; use the "
                                         "ones already running.")] = False,
    scenarios_dir: ScenariosDirOpt = DEFAULT_SCENARIOS,
    personas_dir: PersonasDirOpt = DEFAULT_PERSONAS,
    base_url: Annotated[str | None, Opt("--base-url", help="OpenAI-compatible API of the openai-* engines "
                                           "\\[env OPENAI_BASE_URL; key from env OPENAI_API_KEY].")] = None,
    llm_base_url: Annotated[str | None, Opt("--llm-base-url", help="Only for the LLM (openai-pipeline).")] = None,
    stt_base_url: Annotated[str | None, Opt("--stt-base-url", help="Only for the STT (openai-pipeline).")] = None,
    tts_base_url: Annotated[str | None, Opt("--tts-base-url", help="Only for the TTS (openai-pipeline).")] = None,
    realtime_base_url: Annotated[str | None, Opt("--realtime-base-url", help="Only for openai-realtime.")] = None,
    llm_model: Annotated[str | None, Opt("--llm-model", help="LLM of openai-pipeline (default gpt-4.1-mini).")]
    = None,
    stt_model: Annotated[str | None, Opt("--stt-model", help="STT, and the Realtime input transcription "
                                            "(default gpt-4o-mini-transcribe).")] = None,
    tts_model: Annotated[str | None, Opt("--tts-model", help="TTS of openai-pipeline (default gpt-4o-mini-tts).")]
    = None,
    realtime_model: Annotated[str | None, Opt("--realtime-model",
                                                 help="Model of openai-realtime (default gpt-realtime).")] = None,
    yes: Annotated[bool, Opt("--yes", "-y", help="Start a large paid run without asking (see the estimate).")]
    = False,
    agent: Annotated[list[str], Opt("--agent", help="ROLE=AGENT_NAME: your LiveKit agent registered under "
                                    "AGENT_NAME plays ROLE, synthconv the other role, and the call is measured "
                                    "(repeatable, one per role key; --transport livekit).")] = [],  # noqa: B006
    impair: Annotated[list[str], Opt("--impair", help="Also write impaired copies: phone, noise:snr=DB, loss:RATE "
                                     "(repeatable, combinable; see `synthconv impair`).")] = [],  # noqa: B006
    tts: Annotated[str | None, Opt("--tts", help="How offline agents speak: auto (a drawn persona's neural voice "
                                   "from the catalog, Piper; espeak-ng where there is none, e.g. Hindi) or espeak "
                                   "(espeak-ng for everyone: robotic, many times faster). Default: auto, and espeak "
                                   "in LiveKit rooms (they run in real time).")] = None,
    voices_dir: VoicesDirOpt = [],  # noqa: B006
) -> None:
    """Plan COUNT scenario x persona jobs and generate a conversation for each."""
    values = dict(count=count, seed=seed, concurrency=concurrency, engine=engine, transport=transport,
                  hearing=hearing, scenario=scenario, persona=persona, personas=personas, job_timeout=job_timeout,
                  retries=retries, max_failure_rate=max_failure_rate, turn_taking=turn_taking,
                  scenarios_dir=scenarios_dir, personas_dir=personas_dir, impair=impair, tts=tts,
                  voices_dir=voices_dir, agent=agent)
    openai = dict(base_url=base_url, llm_base_url=llm_base_url, stt_base_url=stt_base_url,
                  tts_base_url=tts_base_url, realtime_base_url=realtime_base_url, llm_model=llm_model,
                  stt_model=stt_model, tts_model=tts_model, realtime_model=realtime_model)
    # by name: typer >= 0.2x vendors its own click, whose ParameterSource is not click's
    given = {k for k in values if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    if resume is not None and out is not None:
        fail("--resume: give the run folder to --resume only, not --out")
    plan = _build(values, given, {k: v for k, v in openai.items() if v}, resume, out)
    plan = _preflight(plan, yes, (livekit_url, livekit_api_key, livekit_api_secret))
    outcome, elapsed = _run(plan, no_local_worker)
    _report(plan, outcome, elapsed)


@dataclass(frozen=True)
class _Plan:
    """What `generate` will do: the config, the library it plays, the jobs, and what is done."""

    config: RunConfig
    library: Library
    jobs: list
    resume: bool = False
    already: dict | None = None

    @property
    def out(self) -> Path:
        assert self.config.out is not None
        return self.config.out


def _build(values: dict[str, Any], given: set[str], openai: dict[str, str], resume: Path | None,
           out: Path | None) -> _Plan:
    """The run's config and jobs: from the flags, or from RUN/run.json plus the flags that may
    change on resume."""
    from pydantic import ValidationError

    from ..errors import LibraryError
    from ..job import Job, plan

    try:
        if resume is None:
            if values["persona"] and "personas" not in given:
                values = {**values, "personas": "files"}  # preferring persona files means playing them
            cfg = RunConfig.build(**values, openai=openai, out=out)
        else:
            cfg, recorded_jobs = _resumed(resume, {k: values[k] for k in given}, openai)
    except ConfigError as e:
        fail(str(e))
    lib = _restrict(library(cfg.scenarios_dir, cfg.personas_dir), list(cfg.scenario), list(cfg.persona))
    use_voice_folders(cfg.voices_dir)  # for the plan's catalog here, and the runners'
    _check_agents(lib, cfg)
    if resume is None:
        try:
            jobs = plan(lib, cfg.count, cfg.seed, personas=cfg.personas)
        except (ValueError, LibraryError) as e:
            fail(str(e).splitlines()[0])
        return _Plan(cfg, lib, jobs)
    jobs = [Job.from_dict(j) for j in recorded_jobs]
    unknown = [j.id for j in jobs if j.scenario not in lib.scenarios]
    if unknown:
        fail(f"--resume: the library no longer has the scenario of {unknown[0]}")
    for i, j in enumerate(jobs):
        try:
            j.cast(lib)
        except (KeyError, ValidationError) as e:
            fail(f"--resume: {resume / 'run.json'}: field jobs.{i}.personas: not a valid persona ({e})")
    from ..runfolder import completed

    return _Plan(cfg, lib, jobs, resume=True, already=completed(resume, jobs))


def _resumed(run: Path, given: dict[str, Any], openai: dict[str, str]) -> tuple[RunConfig, list]:
    """The config of the run in `run`, with the flags that may change on resume applied, and its
    planned jobs. A run folder is data: an engine plugin it names is imported only when this
    command line names it again."""
    from ..runfolder import RunFolderError, read_run_info

    try:
        info = read_run_info(run)
    except RunFolderError as e:
        fail(f"--resume: {e}")
    try:
        cfg = RunConfig.from_recorded(info["flags"], run, relative_library="machine_local" in info)
    except ConfigError as e:
        fail(f"--resume: {run / 'run.json'}: {e}")
    if given.get("engine") == cfg.engine:
        given = {k: v for k, v in given.items() if k != "engine"}
    elif ":" in cfg.engine:
        fail(f"--resume: {run / 'run.json'} names the engine plugin {cfg.engine!r}; a run folder does not choose "
             f"code to run: give --engine {cfg.engine} to run it again")
    clash = sorted(RunConfig.PLAN & set(given))
    if clash:
        fail(f"--resume: the plan comes from {run / 'run.json'}; drop --{clash[0].replace('_', '-')}")
    # engine settings given anew replace the recorded ones (which are redacted: credentials in a
    # URL are given again, or come from the environment)
    settings = {**cfg.openai.given(), **openai}
    try:
        return cfg.with_(**given, openai=settings), info["jobs"]
    except ConfigError as e:
        fail(str(e))


def _check_agents(lib: Library, cfg: RunConfig) -> None:
    """Every scenario of the run has one role for --agent to name, and a scenario that names its
    own agent (under_test.agent_name) runs in a room."""
    for sid, sc in sorted(lib.scenarios.items()):
        try:
            on_line = sc.agent_on_line(cfg.agents)
        except ValueError as e:
            fail(str(e))
        if on_line is not None and cfg.transport != "livekit":
            fail(f"scenario {sid}: under_test.agent_name puts agent {on_line.agent_name!r} on the line; "
                 "add --transport livekit (or --scenario to leave it out)")


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


def _preflight(plan: _Plan, yes: bool, livekit: tuple[str | None, str | None, str | None]) -> _Plan:
    """Everything that can fail before a file is written: the engine (keys, voices, models), the
    cost of a paid run, the LiveKit server, the run folder. Returns the plan with its folder."""
    from ..engine import EngineError, make_engine

    cfg = plan.config
    try:
        used = {p.id: p for j in plan.jobs for p in j.cast(plan.library).values()}
        engine = make_engine(cfg.engine_spec)
        engine.check([used[p] for p in sorted(used)])
    except EngineError as e:
        fail(str(e))
    todo = [j for j in plan.jobs if j.id not in (plan.already or {})]
    _confirm_cost(engine, todo, plan.library, yes)
    if cfg.transport == "livekit":
        cfg = cfg.with_(livekit_url=_check_livekit(*livekit))
    if not plan.resume:
        out = cfg.out or Path("output") / datetime.now().strftime("%Y%m%d-%H%M%S")
        _check_out(out)
        cfg = cfg.with_(out=out)
    return _Plan(cfg, plan.library, plan.jobs, plan.resume, plan.already)


def _run(plan: _Plan, no_local_worker: bool):  # noqa: ANN202 - (supervisor.Outcome, seconds)
    """Hold the run's lock, start the local agent worker if rooms need one, run every job."""
    from ..runfolder import RunFolderError, RunLock
    from ..supervisor import Outcome, run

    cfg = plan.config
    try:
        lock = RunLock(plan.out).acquire()  # held until this process ends: one writer per run
    except RunFolderError as e:
        fail(str(e))
    local_worker = None
    if cfg.transport == "livekit" and not no_local_worker and _synthconv_plays_both(plan):
        from .worker import start_local_worker

        local_worker = start_local_worker(plan.out, cfg.engine_spec, cfg.concurrency)
    progress = Progress(len(plan.jobs), already=plan.already or {})
    t0 = time.monotonic()
    progress.start()
    outcome: Outcome | RunFolderError
    try:
        outcome = run(cfg, plan.jobs, resume=plan.resume, on_result=progress.update, on_status=progress.status)
    except RunFolderError as e:
        outcome = e
    finally:
        progress.stop()
        if local_worker is not None:
            local_worker.stop()
        lock.release()
    if isinstance(outcome, RunFolderError):
        fail(str(outcome))
    return outcome, time.monotonic() - t0


def _synthconv_plays_both(plan: _Plan) -> bool:
    """Whether some conversation of the plan needs synthconv's own agent worker: in a call with
    an agent under test synthconv's side runs in the runner itself (transport/caller.py)."""
    return any(plan.library.scenarios[j.scenario].agent_on_line(plan.config.agents) is None for j in plan.jobs)


def _report(plan: _Plan, outcome, elapsed: float) -> None:  # noqa: ANN001 - a supervisor.Outcome
    """The summary table, how to resume, and the exit code: 0 all ok, 1 some failed, 128+N on signal N."""
    summary(plan.out, plan.jobs, outcome.results, elapsed, already=set(plan.already or {}))
    if outcome.stopped:
        err.print(outcome.stopped, highlight=False, markup=False)
    if outcome.signal is not None or outcome.stopped:
        err.print(f"resume with: synthconv generate --resume {plan.out}", highlight=False, markup=False)
    if outcome.signal is not None:
        raise typer.Exit(128 + outcome.signal)
    if len(outcome.results) < len(plan.jobs) or not all(r.ok for r in outcome.results.values()):
        raise typer.Exit(1)


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


def _check_livekit(url: str | None, key: str | None, secret: str | None) -> str:
    """The server's URL, once reachable with these credentials; one line if anything is
    missing, the server is unreachable or refuses them. Flags override the environment, which
    the runner processes and the local agent worker inherit."""
    import asyncio

    from ..errors import LiveKitError
    from ..transport.livekit import LiveKitConfig, check_server

    set_livekit_env(url, key, secret)
    try:
        cfg = LiveKitConfig.from_env()
        asyncio.run(check_server(cfg))
    except LiveKitError as e:
        fail(str(e))
    return cfg.url


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
