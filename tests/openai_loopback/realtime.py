"""The Realtime WebSocket of the loopback server (GA event names, as livekit's plugin parses them).

Client events handled: session.update, input_audio_buffer.append / commit / clear,
conversation.item.create / delete / truncate / retrieve, response.create, response.cancel.

Server VAD (turn_detection server_vad or semantic_vad) is an energy detector over the appended
audio, timed in audio samples (so audio may arrive faster than real time): speech_started,
then after `silence_duration_ms` of quiet speech_stopped, committed, the user item
(conversation.item.added / done), its input transcription (delta and completed) when
transcription is configured, and a response when `create_response` is on.

A response: response.created (echoing the client's metadata), then either a function_call item
(end_call) or an assistant message item with content_part.added (audio), interleaved
response.output_audio_transcript.delta and response.output_audio.delta (24 kHz pcm16, real
speech), the matching .done events, response.output_item.done and response.done with usage.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from typing import TYPE_CHECKING

import numpy as np
from aiohttp import WSMsgType, web

from . import audio, dialogue

if TYPE_CHECKING:
    from .server import OpenAILoopback

VAD_BLOCK = audio.RATE // 50  # 20 ms
VAD_RMS = 300.0  # about -40 dBFS


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


class RealtimeConnection:
    def __init__(self, server: OpenAILoopback, ws: web.WebSocketResponse, model: str) -> None:
        self.server = server
        self.ws = ws
        self.model = model
        self.session: dict = {
            "type": "realtime", "object": "realtime.session", "id": _id("sess_"), "model": model,
            "output_modalities": ["audio"], "instructions": "", "tools": [], "tool_choice": "auto",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                                   "silence_duration_ms": 500, "create_response": True,
                                                   "interrupt_response": True}},
                      "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0}},
        }
        self.items: list[dict] = []
        # input audio: what has not been committed yet, and the server VAD's state
        self.buffer = np.zeros(0, dtype=np.int16)
        self.pending = np.zeros(0, dtype=np.int16)  # less than one VAD block
        self.received = 0  # samples appended on this connection, for audio_start_ms / audio_end_ms
        self.buffer_start = 0  # sample index (on `received`) of buffer[0]
        self.speech_start: int | None = None
        self.silence = 0  # samples of quiet since the last loud block
        self.user_item_id: str | None = None
        self.response_task: asyncio.Task | None = None
        self.send_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    # --- sending -------------------------------------------------------------------------

    def trace(self, direction: str, event: dict) -> None:
        """OPENAI_LOOPBACK_TRACE=FILE: one line per event (audio left out), for debugging."""
        path = os.environ.get("OPENAI_LOOPBACK_TRACE")
        if path and event.get("type") not in ("input_audio_buffer.append", "response.output_audio.delta"):
            with open(path, "a") as f:
                f.write(f"{time.time():.3f} {id(self) % 10000:04d} {direction} {json.dumps(event)[:300]}\n")

    async def send(self, event: dict) -> None:
        event.setdefault("event_id", _id("event_"))
        self.trace("<<", event)
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(event))

    def spawn(self, coro) -> asyncio.Task:  # noqa: ANN001
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- configuration -------------------------------------------------------------------

    @property
    def turn_detection(self) -> dict | None:
        return self.session["audio"]["input"].get("turn_detection")

    @property
    def transcription(self) -> dict | None:
        return self.session["audio"]["input"].get("transcription")

    def update_session(self, update: dict) -> None:
        for key, value in update.items():
            if key == "audio" and isinstance(value, dict):
                for part in ("input", "output"):
                    if isinstance(value.get(part), dict):
                        self.session["audio"][part].update(value[part])
            elif key != "type":
                self.session[key] = value

    # --- items ---------------------------------------------------------------------------

    def tail_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def history(self) -> list[tuple[str, str]]:
        out = []
        for item in self.items:
            if item.get("type") != "message" or item.get("role") not in ("user", "assistant"):
                continue
            text = "".join((c.get("text") or c.get("transcript") or "") for c in item.get("content", []))
            out.append((item["role"], text))
        return out

    def ended_call(self) -> bool:
        return any(i.get("type") == "function_call" and i.get("name") == "end_call" for i in self.items)

    async def add_item(self, item: dict, previous_item_id: str | None = "tail") -> None:
        prev = self.tail_id() if previous_item_id in ("tail", None) else previous_item_id
        if previous_item_id == "root":
            prev = None
            self.items.insert(0, item)
        else:
            idx = next((i for i, it in enumerate(self.items) if it["id"] == prev), len(self.items) - 1)
            self.items.insert(idx + 1, item)
        await self.send({"type": "conversation.item.added", "previous_item_id": prev, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": prev, "item": item})

    # --- input audio and server VAD ----------------------------------------------------------

    async def append(self, b64: str) -> None:
        pcm = np.frombuffer(base64.b64decode(b64), dtype="<i2")
        self.buffer = np.concatenate([self.buffer, pcm])
        td = self.turn_detection
        data = np.concatenate([self.pending, pcm])
        n = len(data) // VAD_BLOCK * VAD_BLOCK
        self.pending = data[n:]
        if td is None:
            self.received += n
            return
        silence_needed = int(td.get("silence_duration_ms", 500) * audio.RATE / 1000)
        for i in range(0, n, VAD_BLOCK):
            block = data[i:i + VAD_BLOCK].astype(np.float32)
            loud = float(np.sqrt((block ** 2).mean())) > VAD_RMS
            at = self.received + i  # sample index of this block
            if loud:
                self.silence = 0
                if self.speech_start is None:
                    self.speech_start = at
                    self.user_item_id = _id("item_")
                    await self.send({"type": "input_audio_buffer.speech_started",
                                     "audio_start_ms": at * 1000 // audio.RATE, "item_id": self.user_item_id})
                    if td.get("interrupt_response", True) and self.response_task and not self.response_task.done():
                        self.response_task.cancel()
            elif self.speech_start is not None:
                self.silence += VAD_BLOCK
                if self.silence >= silence_needed:
                    end = at + VAD_BLOCK
                    await self.send({"type": "input_audio_buffer.speech_stopped",
                                     "audio_end_ms": end * 1000 // audio.RATE, "item_id": self.user_item_id})
                    prefix = int(td.get("prefix_padding_ms", 300) * audio.RATE / 1000)
                    first = max(self.speech_start - prefix, self.buffer_start)
                    segment = self.buffer[first - self.buffer_start:end - self.buffer_start]
                    self.buffer = self.buffer[end - self.buffer_start:]
                    self.buffer_start = end
                    item_id = self.user_item_id
                    self.speech_start, self.silence, self.user_item_id = None, 0, None
                    await self.commit(segment, item_id, respond=td.get("create_response", True))
        self.received += n

    async def commit(self, segment: np.ndarray, item_id: str | None, respond: bool) -> None:
        item_id = item_id or _id("item_")
        await self.send({"type": "input_audio_buffer.committed", "previous_item_id": self.tail_id(),
                         "item_id": item_id})
        transcript = self.server.clips.recognize(segment)
        item = {"id": item_id, "type": "message", "object": "realtime.item", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        await self.add_item(item)
        item["content"][0]["transcript"] = transcript  # what the model "understood", for its reply
        if self.transcription is not None:
            for word in transcript.split(" "):
                if word:
                    await self.send({"type": "conversation.item.input_audio_transcription.delta", "item_id": item_id,
                                     "content_index": 0, "delta": word + " "})
            await self.send({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                             "content_index": 0, "transcript": transcript,
                             "usage": {"type": "duration", "seconds": round(len(segment) / audio.RATE, 2)}})
        if respond:
            self.start_response({})

    # --- responses -----------------------------------------------------------------------

    def start_response(self, params: dict) -> None:
        if self.response_task and not self.response_task.done():
            self.spawn(self.send({"type": "error", "error": {
                "type": "invalid_request_error", "code": "conversation_already_has_active_response",
                "message": "Conversation already has an active response in progress", "param": None,
                "event_id": params.get("_event_id")}}))
            return
        self.response_task = self.spawn(self.respond(params))

    async def respond(self, params: dict) -> None:
        rid = _id("resp_")
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "status_details": None,
                    "output": [], "conversation_id": "conv_loopback", "output_modalities": ["audio"],
                    "metadata": params.get("metadata"), "usage": None,
                    "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000},
                                         "voice": self.session["audio"]["output"].get("voice")}}}
        await self.send({"type": "response.created", "response": dict(response)})
        output: list[dict] = []
        status, details = "completed", None
        try:
            if self.server.fault("realtime_response"):
                status = "failed"
                details = {"type": "failed", "reason": None,
                           "error": {"type": "invalid_request_error", "code": "rate_limit_exceeded",
                                     "message": "Rate limit reached (loopback)"}}
                return
            instructions = params.get("instructions") or self.session.get("instructions") or ""
            tools = params.get("tools") or self.session.get("tools") or []
            can_end = any(t.get("name") == "end_call" for t in tools if isinstance(t, dict))
            r = dialogue.reply(instructions, self.history(), can_end_call=can_end, ended_call=self.ended_call(),
                               goodbye_with_call=self.server.goodbye_with_call)
            if r.text:
                output.append(await self.message(rid, len(output), r.text))
            if r.end_call:
                self.server.end_calls += 1
                output.append(await self.function_call(rid, len(output)))
        except asyncio.CancelledError:
            status, details = "cancelled", {"type": "cancelled", "reason": "client_cancelled"}
        except dialogue.UnknownRole as e:
            status = "failed"
            details = {"type": "failed", "error": {"type": "invalid_request_error", "code": "unknown_role",
                                                   "message": str(e)}}
        finally:
            done = {**response, "status": status, "status_details": details, "output": output,
                    "usage": {"total_tokens": 100, "input_tokens": 60, "output_tokens": 40,
                              "input_token_details": {"text_tokens": 20, "audio_tokens": 40, "cached_tokens": 0},
                              "output_token_details": {"text_tokens": 10, "audio_tokens": 30}}}
            await asyncio.shield(self.send({"type": "response.done", "response": done}))

    async def function_call(self, rid: str, index: int) -> dict:
        item = {"id": _id("item_"), "type": "function_call", "object": "realtime.item", "status": "in_progress",
                "name": "end_call", "call_id": _id("call_"), "arguments": ""}
        await self.send({"type": "response.output_item.added", "response_id": rid, "output_index": index, "item": item})
        await self.add_item(dict(item))
        await self.send({"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item["id"],
                         "output_index": index, "call_id": item["call_id"], "delta": "{}"})
        await self.send({"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item["id"],
                         "output_index": index, "call_id": item["call_id"], "name": "end_call", "arguments": "{}"})
        item = {**item, "status": "completed", "arguments": "{}"}
        for it in self.items:
            if it["id"] == item["id"]:
                it.update(item)
        await self.send({"type": "response.output_item.done", "response_id": rid, "output_index": index, "item": item})
        return item

    async def message(self, rid: str, index: int, text: str) -> dict:
        out = self.session["audio"]["output"]
        pcm = await asyncio.to_thread(audio.synthesize, text, out.get("voice") or "alloy", float(out.get("speed") or 1.0))
        self.server.clips.add(pcm, text)
        item = {"id": _id("item_"), "type": "message", "object": "realtime.item", "status": "in_progress",
                "role": "assistant", "content": []}
        await self.send({"type": "response.output_item.added", "response_id": rid, "output_index": index, "item": item})
        await self.add_item(dict(item, content=[]))
        ids = {"response_id": rid, "item_id": item["id"], "output_index": index, "content_index": 0}
        await self.send({"type": "response.content_part.added", **ids, "part": {"type": "audio", "transcript": ""}})
        words = text.split(" ")
        chunk = audio.RATE // 10 * 2  # 200 ms per audio delta
        chunks = [pcm[i:i + chunk] for i in range(0, len(pcm), chunk)] or [pcm]
        # spread the words over the audio, as the model's transcript runs along its speech
        per = max(1, -(-len(words) // len(chunks)))
        for n, c in enumerate(chunks):
            part = words[n * per:(n + 1) * per]
            if part:
                delta = " ".join(part) + (" " if (n + 1) * per < len(words) else "")
                await self.send({"type": "response.output_audio_transcript.delta", **ids, "delta": delta})
            await self.send({"type": "response.output_audio.delta", **ids,
                             "delta": base64.b64encode(c.astype("<i2").tobytes()).decode()})
            await asyncio.sleep(0)
        rest = words[len(chunks) * per:]
        if rest:
            await self.send({"type": "response.output_audio_transcript.delta", **ids, "delta": " ".join(rest)})
        await self.send({"type": "response.output_audio.done", **ids})
        await self.send({"type": "response.output_audio_transcript.done", **ids, "transcript": text})
        part = {"type": "audio", "transcript": text}
        await self.send({"type": "response.content_part.done", **ids, "part": part})
        item = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": text}]}
        for it in self.items:
            if it["id"] == item["id"]:
                it.update(item)
        await self.send({"type": "response.output_item.done", "response_id": rid, "output_index": index, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": None, "item": item})
        return item

    # --- client events -------------------------------------------------------------------

    async def handle(self, event: dict) -> None:  # noqa: C901
        kind = event.get("type")
        self.trace(">>", event)
        if kind == "session.update":
            self.update_session(event.get("session") or {})
            await self.send({"type": "session.updated", "session": self.session})
        elif kind == "input_audio_buffer.append":
            await self.append(event.get("audio", ""))
        elif kind == "input_audio_buffer.commit":
            if len(self.buffer) < audio.RATE // 10:
                await self.send({"type": "error", "error": {
                    "type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
                    "message": "buffer too small", "param": None, "event_id": event.get("event_id")}})
                return
            segment, self.buffer = self.buffer, np.zeros(0, dtype=np.int16)
            self.buffer_start = self.received
            self.speech_start, self.silence = None, 0
            await self.commit(segment, self.user_item_id, respond=False)
        elif kind == "input_audio_buffer.clear":
            self.buffer = np.zeros(0, dtype=np.int16)
            self.buffer_start = self.received
            self.speech_start, self.silence = None, 0
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            item = dict(event.get("item") or {})
            item.setdefault("id", _id("item_"))
            item.setdefault("object", "realtime.item")
            item.setdefault("status", "completed")
            if any(i["id"] == item["id"] for i in self.items):
                await self.send({"type": "error", "error": {
                    "type": "invalid_request_error", "code": "item_create_duplicate_item_id",
                    "message": "duplicate item id", "param": None, "event_id": event.get("event_id")}})
                return
            await self.add_item(item, event.get("previous_item_id") or "tail")
        elif kind == "conversation.item.delete":
            item_id = event.get("item_id")
            self.items = [i for i in self.items if i["id"] != item_id]
            await self.send({"type": "conversation.item.deleted", "item_id": item_id})
        elif kind == "conversation.item.truncate":
            await self.send({"type": "conversation.item.truncated", "item_id": event.get("item_id"),
                             "content_index": event.get("content_index", 0),
                             "audio_end_ms": event.get("audio_end_ms", 0)})
        elif kind == "conversation.item.retrieve":
            item = next((i for i in self.items if i["id"] == event.get("item_id")), None)
            await self.send({"type": "conversation.item.retrieved", "item": item})
        elif kind == "response.create":
            params = dict(event.get("response") or {})
            params["_event_id"] = event.get("event_id")
            self.start_response(params)
        elif kind == "response.cancel":
            if self.response_task and not self.response_task.done():
                self.response_task.cancel()
        else:
            await self.send({"type": "error", "error": {"type": "invalid_request_error", "code": "unknown_event",
                                                        "message": f"unknown event {kind!r}", "param": None,
                                                        "event_id": event.get("event_id")}})


async def realtime_handler(server: OpenAILoopback, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=32 * 1024 * 1024, heartbeat=None)
    await ws.prepare(request)
    conn = RealtimeConnection(server, ws, request.query.get("model", "gpt-realtime"))
    await conn.send({"type": "session.created", "session": conn.session})
    started = time.monotonic()
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                event = json.loads(msg.data)
            except ValueError:
                continue
            await conn.handle(event)
    finally:
        for task in list(conn.tasks):
            task.cancel()
        server.log.append({"endpoint": "realtime_session", "seconds": round(time.monotonic() - started, 2)})
    return ws
