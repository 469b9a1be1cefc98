"""An agent that is not synthconv's, written the way LiveKit's examples are: an AgentSession with
the openai plugins and silero VAD, default participant kinds, its own worker and agent name.

    LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... \\
    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=... python tests/user_agent.py start

In the tests its OpenAI server is the loopback one (tests/openai_loopback, started with
--whisper so its STT really hears the caller), whose "model" plays the clinic receptionist of
the appointment-booking scenario that these instructions describe. Nothing in it knows synthconv:
it ignores its dispatch metadata and links whoever calls, as any deployed agent does.

Variants, from the environment (the tests' known truths):
- USER_AGENT_NAME: the agent name it registers (default "clinic-receptionist");
- USER_AGENT_DELAY_S: it starts speaking exactly this long after the caller's speech ended, as
  both go over the wire (a slow agent whose latency is known; see Wire);
- USER_AGENT_NO_YIELD=1: interruptions off: it talks through a caller who cuts in;
- USER_AGENT_PERSONA: the receptionist it is told it is ("Daniel Okafor" says more each turn);
- USER_AGENT_TRUTH=FILE: one JSON line per reply, {heard_end, spoke, latency_s}: the caller's
  last loud sample as it arrived here and this agent's first loud sample as it left (Wire), on
  the machine's monotonic clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time

import numpy as np
from livekit import rtc
from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli
from livekit.plugins import openai, silero

NAME = os.environ.get("USER_AGENT_NAME", "clinic-receptionist")
DELAY_S = float(os.environ.get("USER_AGENT_DELAY_S", "0") or 0)
NO_YIELD = os.environ.get("USER_AGENT_NO_YIELD") == "1"
PERSONA = os.environ.get("USER_AGENT_PERSONA", "Maya Chen")  # the loopback model speaks as this receptionist
TRUTH = os.environ.get("USER_AGENT_TRUTH")
LOUD = 64  # what the recording contract calls speech (|sample| above -54 dBFS)

INSTRUCTIONS = (
    f"You are {PERSONA}, the Clinic receptionist in this call: A patient calls a clinic to book an appointment "
    "for a recurring problem. Your goal: Identify the patient, understand how urgent it is and book a suitable "
    "slot. Facts only you know: clinic: Riverside Medical Centre; doctor: Dr. Patel; slot: Thursday at 9:40; "
    "confirmation: RS-7734. Keep your answers short and friendly."
)

# The one departure from the examples: the test machine's 2 cores are shared with the callers, the
# server and other tests, and a worker reporting the machine's CPU as its load is skipped by
# livekit-server above 0.7 (and refuses calls itself above its load_threshold). It reports the
# share of its job slots in use instead, as synthconv's own worker does.
server = AgentServer(load_threshold=math.inf, load_fnc=lambda s: min(0.5, len(s.active_jobs) / 32))


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)


class Wire:
    """Test instrumentation, not part of the agent: when the caller's audio last had a sound as it
    came off the wire (the job's one AudioStream), and when a reply's first sound goes onto it (its
    one AudioSource, whose queue is accounted for). USER_AGENT_DELAY_S holds a reply's first sound
    until that long after the caller's last; USER_AGENT_TRUTH logs both times of every reply."""

    heard_end = 0.0  # monotonic time of the caller's last loud sample, as it arrived
    sound_until = 0.0  # when the sound queued so far has played out

    @classmethod
    def install(cls) -> None:
        next_event, capture = rtc.AudioStream.__anext__, rtc.AudioSource.capture_frame

        async def timed_next(stream):  # noqa: ANN001, ANN202
            ev = await next_event(stream)
            pcm = np.frombuffer(ev.frame.data, dtype=np.int16)
            loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LOUD)
            if len(loud):
                cls.heard_end = time.monotonic() - (len(pcm) - 1 - loud[-1]) / ev.frame.sample_rate
            return ev

        async def timed_capture(source, frame):  # noqa: ANN001, ANN202
            pcm = np.frombuffer(frame.data, dtype=np.int16)
            loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LOUD)
            now = time.monotonic()
            if len(loud) and now > cls.sound_until + 0.5 and cls.heard_end:  # a reply's first sound
                ahead = source.queued_duration + loud[0] / frame.sample_rate  # until it plays
                if DELAY_S:
                    await asyncio.sleep(max(0.0, cls.heard_end + DELAY_S - ahead - now))
                    now = time.monotonic()
                if TRUTH:
                    with open(TRUTH, "a") as f:
                        f.write(json.dumps({"heard_end": cls.heard_end, "spoke": now + ahead,
                                            "latency_s": now + ahead - cls.heard_end}) + "\n")
            await capture(source, frame)
            if len(loud):
                cls.sound_until = time.monotonic() + source.queued_duration

        rtc.AudioStream.__anext__, rtc.AudioSource.capture_frame = timed_next, timed_capture


@server.rtc_session(agent_name=NAME)
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=openai.STT(model="gpt-4o-mini-transcribe"),
        llm=openai.LLM(model="gpt-4.1-mini"),
        tts=openai.TTS(model="gpt-4o-mini-tts", voice="coral"),
        vad=silero.VAD.load(),
        turn_handling={"turn_detection": "vad", **({"interruption": {"enabled": False}} if NO_YIELD else {})},
    )
    Wire.install()
    await session.start(agent=Receptionist(), room=ctx.room)
    await session.generate_reply(instructions="Greet the caller and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
