"""The OpenAI engines: Realtime speech-to-speech agents, and an STT -> LLM -> TTS pipeline.

- `openai-realtime`: each agent is an AgentSession on livekit-plugins-openai's `RealtimeModel`,
  speaking with its persona's OpenAI voice. Turns are found by the model's server VAD; the
  transcript is the model's transcription of its own speech and `heard` the peer's input
  transcription.
- `openai-pipeline`: openai STT, LLM and TTS plugins with silero VAD, each part with its own
  model and (optionally) its own base URL, so a local OpenAI-compatible LLM server can be mixed
  with hosted speech. `heard` is the STT's real transcription of the peer's audio.

Both give the agent an `end_call` tool: the agent calls it once the scenario's goal is met and
then says its goodbye; the call ends once that has been heard (or at the turn/time limit).

Configuration comes from the environment, so LiveKit workers on other machines get the same
(the CLI flags only set these variables):

    OPENAI_API_KEY, OPENAI_BASE_URL
    SYNTHCONV_OPENAI_{LLM,STT,TTS,REALTIME}_MODEL     per-part model
    SYNTHCONV_OPENAI_{LLM,STT,TTS,REALTIME}_BASE_URL  per-part base URL (else OPENAI_BASE_URL)
    SYNTHCONV_OPENAI_TTS_FORMAT        pcm (default), wav, mp3, opus, aac, flac
    SYNTHCONV_OPENAI_MAX_RETRIES       retries of a rate-limited or failed request (default 3)
    SYNTHCONV_OPENAI_TIMEOUT           seconds per request (default 30)
    SYNTHCONV_OPENAI_VAD_SILENCE_MS    the Realtime server VAD's end-of-turn silence (default 600)
    SYNTHCONV_OPENAI_CONFIRM_MINUTES   estimated API audio minutes above which `--yes` is needed (60)

The key is read from the environment only; it is never written to run.json, logs or meta.json.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from livekit.agents import Agent, AgentSession, APIConnectOptions, StopResponse, function_tool, llm

# Imported here, not when a session is built: livekit plugins must register on the main thread
# (a LiveKit worker builds sessions in job threads: it imports this module at start), and these
# imports take a second or more, which would block a job's event loop.
from livekit.plugins import openai as lk_openai
from openai.types.realtime import AudioTranscription
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from ..scenario import Library, Persona, Scenario
from .base import Engine, EngineError, Speaker
from .session import RoleAgent, session_options

log = logging.getLogger("synthconv.openai")

OPENAI_API = "https://api.openai.com/v1"
DEFAULT_MODELS = {
    "llm": "gpt-4.1-mini",
    "stt": "gpt-4o-mini-transcribe",
    "tts": "gpt-4o-mini-tts",
    "realtime": "gpt-realtime",
}
TTS_FORMATS = ("pcm", "wav", "mp3", "opus", "aac", "flac")
LANGUAGES = {"en": "English", "hi": "Hindi", "es": "Spanish", "fr": "French", "de": "German"}
SPEED = {"slow": 0.9, "normal": 1.0, "fast": 1.1}
WORDS_PER_SECOND = 2.5  # conversational speech, about 150 words a minute
VERBOSITY = {  # models say more than the script's lines; terse personas less
    "terse": "Keep every turn to one short sentence.",
    "normal": "Keep turns short: one or two sentences, as people do on the phone.",
    "verbose": "You tend to say a bit more than needed: two or three sentences a turn.",
}


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def redact_url(url: str) -> str:
    """`url` without any user:password part (for run.json and messages)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


@dataclass(frozen=True)
class Part:
    """One part of an engine (llm, stt, tts or realtime): its model and where it is served."""

    name: str
    model: str
    base_url: str

    @property
    def hosted(self) -> bool:
        """Served by the OpenAI API itself (which needs OPENAI_API_KEY)."""
        return (urlsplit(self.base_url).hostname or "").endswith("api.openai.com")


@dataclass(frozen=True)
class OpenAIConfig:
    api_key: str | None
    parts: dict[str, Part]
    tts_format: str
    max_retries: int
    timeout: float
    vad_silence_ms: int
    confirm_minutes: float

    @classmethod
    def from_env(cls) -> OpenAIConfig:
        base = _env("OPENAI_BASE_URL") or OPENAI_API
        parts = {
            name: Part(name=name,
                       model=_env(f"SYNTHCONV_OPENAI_{name.upper()}_MODEL") or default,
                       base_url=_env(f"SYNTHCONV_OPENAI_{name.upper()}_BASE_URL") or base)
            for name, default in DEFAULT_MODELS.items()
        }

        def number(name: str, default: float, kind=float):  # noqa: ANN001, ANN202
            raw = _env(name)
            try:
                return kind(raw) if raw is not None else default
            except ValueError:
                raise EngineError(f"{name}: not a number ({raw!r})") from None

        return cls(
            api_key=_env("OPENAI_API_KEY"),
            parts=parts,
            tts_format=(_env("SYNTHCONV_OPENAI_TTS_FORMAT") or "pcm").lower(),
            max_retries=number("SYNTHCONV_OPENAI_MAX_RETRIES", 3, int),
            timeout=number("SYNTHCONV_OPENAI_TIMEOUT", 30.0),
            vad_silence_ms=number("SYNTHCONV_OPENAI_VAD_SILENCE_MS", 600, int),
            confirm_minutes=number("SYNTHCONV_OPENAI_CONFIRM_MINUTES", 60.0),
        )

    def key(self) -> str:
        # OpenAI-compatible servers usually ignore the key, but the SDK insists on one
        return self.api_key or "no-key"

    def client(self, part: str):  # noqa: ANN201 - openai.AsyncClient
        """An OpenAI SDK client for one part. The SDK retries 408/409/429/5xx and dropped
        connections with exponential backoff (honouring Retry-After) before livekit's own retry."""
        import openai as openai_sdk

        return openai_sdk.AsyncClient(api_key=self.key(), base_url=self.parts[part].base_url,
                                      max_retries=self.max_retries, timeout=self.timeout)

    def conn_options(self) -> APIConnectOptions:
        # livekit's own retry wraps the SDK's: one more attempt after a short pause
        return APIConnectOptions(max_retry=1, retry_interval=2.0, timeout=self.timeout)


# --- errors ---------------------------------------------------------------------------------


class OpenAIUnavailable(ConnectionError):
    """A part kept failing after its retries (rate limits, 5xx, dropped connections): the job
    fails, and the batch may retry it later (a ConnectionError counts as transient)."""


class OpenAIRejected(RuntimeError):
    """A part's requests are rejected (bad key, unknown model, bad request): retrying won't help."""


_PARTS_BY_ERROR = {"llm_error": "llm", "stt_error": "stt", "tts_error": "tts", "realtime_model_error": "realtime"}


def _host(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def job_error(cfg: OpenAIConfig, err) -> Exception:  # noqa: ANN001 - livekit LLMError/STTError/...
    """One line for the job's error: which part, where, and what the API said."""
    from livekit.agents import APIConnectionError, APIError, APIStatusError

    name = _PARTS_BY_ERROR.get(getattr(err, "type", ""), "openai")
    part = cfg.parts.get(name)
    where = f"{name} ({part.model} at {_host(part.base_url)})" if part else name
    error = getattr(err, "error", err)
    status = error if isinstance(error, APIStatusError) else None
    cause = error
    while status is None and cause is not None:  # "failed after N attempts" wraps the last status
        cause = cause.__cause__
        status = cause if isinstance(cause, APIStatusError) else None
    if status is not None:
        body = status.body if isinstance(status.body, dict) else {}
        what = body.get("message") or status.message
        line = f"{where}: HTTP {status.status_code} {what}"
        if status.status_code in (408, 409, 429) or status.status_code >= 500:
            return OpenAIUnavailable(f"{line} (after retries)")
        return OpenAIRejected(line)
    message = error.message if isinstance(error, APIError) else f"{type(error).__name__}: {error}"
    if isinstance(error, APIConnectionError) or (isinstance(error, APIError) and error.retryable):
        return OpenAIUnavailable(f"{where}: {message}")
    return OpenAIRejected(f"{where}: {message}")


# --- the agent ------------------------------------------------------------------------------


def instructions_for(speaker: Speaker) -> str:
    """What one agent is told: who it is, its goal and private facts, how to open and to end."""
    sc, persona, role = speaker.scenario, speaker.persona, speaker.scenario.roles[speaker.role]
    peer = sc.roles[speaker.peer_role]
    facts = "; ".join(f"{k}: {v}" for k, v in speaker.facts.items())
    style = persona.style
    language = LANGUAGES.get(sc.language, sc.language)
    own_beats = [b for b in sc.script if b.role == speaker.role]
    if speaker.role == sc.first_speaker:
        opening = ("You speak first: open the call the way a " + role.label.lower()
                   + f" would, for example: \"{own_beats[0].say[0]}\" (in your own words, with your own facts).")
    else:
        opening = f"The {peer.label.lower()} speaks first; then answer as yourself."
    phases = " -> ".join(dict.fromkeys(b.phase for b in sc.script))
    lines = [
        # the first sentence is what every engine says (see RoleAgent.for_speaker)
        f"You are {persona.name}, the {role.label} in this call: {sc.title}. "
        f"Your goal: {role.goal} Facts only you know: {facts}.",
        f"You are on a phone call with the {peer.label.lower()}. Speak {language} only, as {persona.name} "
        f"({persona.locale}) would on the phone.",
        f"Your manner: {style.mood}, politeness {style.politeness}, pace {style.pace}. "
        + VERBOSITY[style.verbosity]
        + {"none": " Do not use filler words.", "some": " Use a filler word (um, uh, well) now and then.",
           "many": " Use filler words (um, uh, you know) often."}[style.fillers],
        opening,
        f"The call goes through: {phases}. It is done when: " + "; ".join(sc.outcome) + ".",
        "Share your facts when they are needed, one at a time; never invent account numbers or other facts "
        "you were not given. Ask for what you need from the other side.",
        f"Ending: keep the whole call within about {sc.turns.max} turns. Once the goal is met and nothing is "
        "left to say, call the end_call tool, then say a short goodbye. Do not call it before the goal is met "
        "unless the call cannot go anywhere.",
        "Say only the words you would speak aloud: no stage directions, lists, markdown or emoji. "
        "Never mention being an AI or these instructions.",
    ]
    return "\n".join(lines)


class OpenAIRoleAgent(RoleAgent):
    """The role agent with the end_call tool, and silence once the peer has said goodbye."""

    def __init__(self, speaker: Speaker) -> None:
        super().__init__(instructions_for(speaker), opens=speaker.role == speaker.scenario.first_speaker,
                         peer_ready=speaker.peer_ready)
        self._speaker = speaker
        self._goodbye_in_stream = False  # the LLM said its goodbye together with end_call

    @function_tool
    async def end_call(self) -> str | None:
        """End the phone call. Call this once the goal of the call is met and the conversation is
        wrapping up (or it clearly cannot go anywhere); then say your short goodbye. The call ends
        after that goodbye has been heard."""
        call = self._speaker.call
        if call.ending_role not in (None, self._speaker.role):
            return None  # the other side already said goodbye: nothing more to say
        if self._goodbye_in_stream:
            return None  # the goodbye came with this call and was already the last line
        call.end_after_turn(self._speaker.role)
        return "The call ends after your next line: say a short goodbye now, nothing more."

    async def on_user_turn_completed(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> None:
        if self._speaker.call.ending_role not in (None, self._speaker.role):
            raise StopResponse()  # the peer said its goodbye: the call is over, no reply

    async def llm_node(self, chat_ctx, tools, model_settings):  # noqa: ANN001, ANN201
        """The LLM's stream, watched for an end_call that comes with words in the same response
        (some models say goodbye and call the tool at once): then that goodbye is the last line,
        so the call is marked as ending before its audio is out."""
        spoke = False
        async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
            if isinstance(chunk, str):
                spoke = spoke or bool(chunk.strip())
            elif isinstance(chunk, llm.ChatChunk) and chunk.delta is not None:
                spoke = spoke or bool((chunk.delta.content or "").strip())
                calls = chunk.delta.tool_calls or []
                if spoke and any(c.name == "end_call" for c in calls) and self._speaker.call.ending_role is None:
                    self._speaker.call.end_after_turn(self._speaker.role)
                    self._goodbye_in_stream = True
            yield chunk


# --- the engines ----------------------------------------------------------------------------


class _OpenAIEngine(Engine):
    parts: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._config: OpenAIConfig | None = None

    @property
    def config(self) -> OpenAIConfig:
        if self._config is None:
            self._config = OpenAIConfig.from_env()
        return self._config

    def check(self, personas: list[Persona]) -> None:
        cfg = self._config = OpenAIConfig.from_env()
        hosted = [p for p in self.parts if cfg.parts[p].hosted]
        if hosted and not cfg.api_key:
            raise EngineError(f"{self.name}: OPENAI_API_KEY is not set; export it, or point --base-url "
                              "(OPENAI_BASE_URL) at an OpenAI-compatible server")
        for part in self.parts:
            url = cfg.parts[part].base_url
            if urlsplit(url).scheme not in ("http", "https", "ws", "wss") or not urlsplit(url).hostname:
                raise EngineError(f"{self.name}: base URL of the {part} is not an http(s) URL: {redact_url(url)!r}")
        if "tts" in self.parts and cfg.tts_format not in TTS_FORMATS:
            raise EngineError(f"SYNTHCONV_OPENAI_TTS_FORMAT: {cfg.tts_format!r} is not one of {', '.join(TTS_FORMATS)}")
        for p in personas:
            if not p.voice.openai:
                raise EngineError(f"persona {p.id}: no OpenAI voice (voice.openai)")

    # cost ----------------------------------------------------------------------------------

    @staticmethod
    def speech_seconds(scenario: Scenario) -> float:
        """About how long one conversation of `scenario` speaks: its script's lines, 1.5x for
        models being wordier than the script."""
        words = 0.0
        for beat in scenario.script:
            words += sum(len(s.split()) for s in beat.say) / len(beat.say)
        return 1.5 * words / WORDS_PER_SECOND

    def cost_estimate(self, jobs: list, library: Library) -> tuple[float, float, str]:
        """(API audio minutes, the threshold above which to ask, a one-line summary).

        Every second one agent speaks is generated once (TTS / Realtime output) and heard once
        (STT / Realtime input) by the other agent."""
        spoken = sum(self.speech_seconds(library.scenarios[j.scenario]) for j in jobs) / 60
        minutes = 2 * spoken
        models = ", ".join(f"{p} {self.config.parts[p].model}" for p in self.parts)
        line = (f"{self.name} ({models}): {len(jobs)} conversations, about {minutes:.0f} API audio minutes "
                f"({spoken:.0f} spoken + {spoken:.0f} heard)")
        return minutes, self.config.confirm_minutes, line

    # errors --------------------------------------------------------------------------------

    def _watch(self, session: AgentSession, speaker: Speaker, clients: list) -> None:
        """Fail the job cleanly when a part gives up after its retries; close our SDK clients."""

        def on_error(ev) -> None:  # noqa: ANN001 - livekit ErrorEvent
            err = ev.error
            if getattr(err, "recoverable", True):
                self._recoverable(session, speaker, err)
                return
            self._fail(speaker, job_error(self.config, err))

        def on_close(_ev) -> None:  # noqa: ANN001
            for c in clients:
                asyncio.get_event_loop().create_task(c.close())

        session.on("error", on_error)
        session.on("close", on_close)

    def _recoverable(self, session: AgentSession, speaker: Speaker, err) -> None:  # noqa: ANN001
        pass

    @staticmethod
    def _fail(speaker: Speaker, error: BaseException) -> None:
        log.error("%s: giving up: %s", speaker.role, error)
        fail = getattr(speaker.call, "fail", None)
        if fail is not None:
            fail(error)  # the transport ends the conversation and the job fails with `error`


class OpenAIPipelineEngine(_OpenAIEngine):
    """openai STT + LLM + TTS plugins, silero VAD."""

    name = "openai-pipeline"
    parts = ("stt", "llm", "tts")

    def __init__(self) -> None:
        super().__init__()
        self._vad = None

    def vad(self):  # noqa: ANN201
        if self._vad is None:
            from livekit.plugins import silero

            self._vad = silero.VAD.load(min_silence_duration=0.6)
        return self._vad

    def warm_up(self) -> None:
        self.vad()

    def voice(self, persona: Persona) -> dict:
        tts = self.config.parts["tts"]
        return {"engine": "openai-tts", "model": tts.model, "voice": persona.voice.openai,
                "speed": SPEED[persona.style.pace], "format": self.config.tts_format}

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        from livekit.agents.voice.agent_session import SessionConnectOptions

        cfg = self.config
        clients = {p: cfg.client(p) for p in self.parts}
        persona = speaker.persona
        tts_kwargs = {}
        if cfg.parts["tts"].model.startswith("gpt-"):  # tts-1 takes no instructions
            tts_kwargs["instructions"] = (f"Speak as {persona.name}, a {persona.style.mood} "
                                          f"{speaker.scenario.roles[speaker.role].label.lower()} on a phone call, "
                                          f"at a {persona.style.pace} pace.")
        conn = cfg.conn_options()
        session = AgentSession(
            stt=lk_openai.STT(model=cfg.parts["stt"].model, language=speaker.scenario.language,
                              client=clients["stt"]),
            llm=lk_openai.LLM(model=cfg.parts["llm"].model, client=clients["llm"]),
            tts=lk_openai.TTS(model=cfg.parts["tts"].model, voice=persona.voice.openai,
                              speed=SPEED[persona.style.pace], response_format=cfg.tts_format,
                              client=clients["tts"], **tts_kwargs),
            vad=self.vad(),
            conn_options=SessionConnectOptions(stt_conn_options=conn, llm_conn_options=conn,
                                               tts_conn_options=conn, max_unrecoverable_errors=0),
            **session_options(),
        )
        self._watch(session, speaker, list(clients.values()))
        return session, OpenAIRoleAgent(speaker)


def realtime_session_options() -> dict:
    """session_options() for a Realtime model: the model's server VAD finds the turns, and
    livekit requires interruptions to be allowed with server-side turn detection."""
    opts = session_options()
    handling = dict(opts["turn_handling"])
    handling["turn_detection"] = "realtime_llm"
    handling["interruption"] = {**handling.get("interruption", {}), "enabled": True}
    handling.pop("endpointing", None)
    opts["turn_handling"] = handling
    return opts


class OpenAIRealtimeEngine(_OpenAIEngine):
    """Speech-to-speech: one OpenAI Realtime session per agent."""

    name = "openai-realtime"
    parts = ("realtime",)

    def __init__(self) -> None:
        super().__init__()
        self._retries: dict[int, int] = {}  # failed responses in a row, per session
        self._tasks: set[asyncio.Task] = set()

    def voice(self, persona: Persona) -> dict:
        return {"engine": "openai-realtime", "model": self.config.parts["realtime"].model,
                "voice": persona.voice.openai, "speed": SPEED[persona.style.pace]}

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        cfg = self.config
        part = cfg.parts["realtime"]
        language = speaker.scenario.language
        model = lk_openai.realtime.RealtimeModel(
            model=part.model,
            voice=speaker.persona.voice.openai,
            speed=SPEED[speaker.persona.style.pace],
            base_url=part.base_url,
            api_key=cfg.key(),
            modalities=["audio"],
            turn_detection=ServerVad(type="server_vad", threshold=0.5, prefix_padding_ms=300,
                                     silence_duration_ms=cfg.vad_silence_ms, create_response=True,
                                     interrupt_response=True),
            input_audio_transcription=AudioTranscription(model=cfg.parts["stt"].model,
                                                         language=language.split("-")[0]),
            conn_options=APIConnectOptions(max_retry=cfg.max_retries, retry_interval=2.0, timeout=cfg.timeout),
        )
        session = AgentSession(llm=model, vad=None, **realtime_session_options())
        self._watch(session, speaker, [])

        @session.on("speech_created")
        def _hush(ev) -> None:  # noqa: ANN001
            # the server VAD answers whatever it hears; once the peer said goodbye, stay silent
            if not ev.user_initiated and speaker.call.ending_role not in (None, speaker.role):
                ev.speech_handle.interrupt(force=True)

        @session.on("agent_state_changed")
        def _spoke(ev) -> None:  # noqa: ANN001
            if ev.new_state == "speaking":
                self._retries[id(session)] = 0  # a response got through

        @session.on("close")
        def _closed(_ev) -> None:  # noqa: ANN001
            self._retries.pop(id(session), None)
            asyncio.get_event_loop().create_task(model.aclose())

        return session, OpenAIRoleAgent(speaker)

    def _recoverable(self, session: AgentSession, speaker: Speaker, err) -> None:  # noqa: ANN001
        """A Realtime response that failed (e.g. rate_limit_exceeded) loses the turn: ask again,
        with backoff, and give up after SYNTHCONV_OPENAI_MAX_RETRIES in a row."""
        error = getattr(err, "error", None)
        if "response failed" not in str(error):
            return  # connection retries are the plugin's own; other errors are informational
        n = self._retries.get(id(session), 0) + 1
        self._retries[id(session)] = n
        if n > self.config.max_retries:
            body = getattr(error, "body", None)
            code = getattr(body, "code", None) or getattr(body, "type", None) or "error"
            part = self.config.parts["realtime"]
            self._fail(speaker, OpenAIUnavailable(
                f"realtime ({part.model} at {_host(part.base_url)}): response failed {n} times in a row ({code})"))
            return
        delay = min(30.0, 2.0 ** (n - 1)) * random.uniform(0.8, 1.2)
        log.warning("%s: Realtime response failed (%s); asking again in %.1f s", speaker.role, error, delay)

        async def again() -> None:
            await asyncio.sleep(delay)
            if not speaker.call.ended:
                session.generate_reply()

        task = asyncio.get_event_loop().create_task(again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
