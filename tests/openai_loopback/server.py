"""A loopback server speaking the OpenAI wire protocols the livekit openai plugins use.

HTTP (aiohttp, 127.0.0.1 only):
- GET  /v1/models
- POST /v1/chat/completions   streaming (SSE chunks, tool calls, usage) and plain JSON
- POST /v1/audio/speech       real speech (espeak-ng) as pcm, wav, mp3, opus, aac or flac; raw
                              bytes, or SSE `speech.audio.delta` events when stream_format=sse
- POST /v1/audio/transcriptions  multipart upload -> the text of the clip the audio matches, or
                              with `whisper=True` what Whisper tiny.en hears in it (a real
                              recognizer, for speech the server did not make: an agent's caller)
- GET  /v1/realtime?model=... the Realtime WebSocket (see realtime.py)

Faults for the retry tests: `server.faults["chat"] = [429, 500]` answers the next two chat
requests with those statuses (OpenAI error bodies, `retry-after-ms` on 429). Keys: chat, speech,
transcriptions, realtime_connect (HTTP status at the WebSocket handshake) and realtime_response
(the next Realtime responses end `failed` with `rate_limit_exceeded`). A value of "always"
instead of a list fails every request with 429. `deaf: [1]`: the next transcription, and every
one after it until the next speech request, answers "" (a recognizer that found no words in a
line: its listener never replies, until the speaker says something new).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections import Counter

from aiohttp import web

from . import audio, dialogue
from .realtime import realtime_handler


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def error_response(status: int, message: str, code: str | None = None, kind: str = "invalid_request_error") -> web.Response:
    headers = {"retry-after-ms": "200"} if status == 429 else {}
    body = {"error": {"message": message, "type": "requests" if status == 429 else kind, "param": None,
                      "code": code or ("rate_limit_exceeded" if status == 429 else None)}}
    return web.json_response(body, status=status, headers=headers)


class OpenAILoopback:
    def __init__(self, api_key: str | None = None, whisper: bool = False) -> None:
        self.api_key = api_key  # if set, requests must carry it
        self.whisper = whisper  # transcriptions by Whisper tiny.en, not by the clips spoken here
        self.clips = audio.ClipStore()
        self.faults: dict[str, list[int] | str] = {}
        self.deaf = False  # the `deaf` fault is on
        self.requests: Counter[str] = Counter()
        self.auth_seen: set[str] = set()
        self.log: list[dict] = []  # (endpoint, status) of every request, for the tests
        self.goodbye_with_call = False  # True: the goodbye and the end_call in one response
        self.end_calls = 0  # end_call tool calls the "model" made
        self.app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_request_id])
        self.app.add_routes([
            web.get("/v1/models", self.models),
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/audio/speech", self.speech),
            web.post("/v1/audio/transcriptions", self.transcriptions),
            web.get("/v1/realtime", self.realtime),
        ])

    # --- plumbing ----------------------------------------------------------------------------

    def fault(self, name: str) -> int | None:
        f = self.faults.get(name)
        if f == "always":
            return 429
        if f:
            return f.pop(0)  # type: ignore[union-attr]
        return None

    def check(self, request: web.Request, name: str) -> web.Response | None:
        self.requests[name] += 1
        auth = request.headers.get("Authorization", "")
        if auth:
            self.auth_seen.add(auth)
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            self.log.append({"endpoint": name, "status": 401})
            return error_response(401, "Incorrect API key provided (loopback).", "invalid_api_key")
        status = self.fault(name)
        if status:
            self.log.append({"endpoint": name, "status": status})
            return error_response(status, f"injected {status} (loopback)")
        self.log.append({"endpoint": name, "status": 200})
        return None

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "loopback"}
            for m in ("gpt-4.1-mini", "gpt-4o-mini-tts", "gpt-4o-mini-transcribe", "gpt-realtime")]})

    # --- chat completions --------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:  # noqa: C901
        if (bad := self.check(request, "chat")) is not None:
            return bad
        body = await request.json()
        messages = body.get("messages", [])
        instructions = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
        history = []
        ended_call = False
        for m in messages:
            if m.get("role") == "tool":
                ended_call = True  # the only tool an engine offers is end_call
            elif m.get("role") == "assistant" and any(
                    (tc.get("function") or {}).get("name") == "end_call" for tc in m.get("tool_calls") or []):
                ended_call = True
            if m.get("role") in ("user", "assistant") and _text(m.get("content")):
                history.append((m["role"], _text(m.get("content"))))
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        try:
            r = dialogue.reply(instructions, history, can_end_call="end_call" in tools, ended_call=ended_call,
                               goodbye_with_call=self.goodbye_with_call)
        except dialogue.UnknownRole as e:
            return error_response(400, f"loopback model: {e}")
        model = body.get("model", "loopback")
        self.end_calls += r.end_call
        cid, created = _id("chatcmpl-"), int(time.time())
        usage = {"prompt_tokens": sum(len(_text(m.get("content")).split()) for m in messages),
                 "completion_tokens": len(r.text.split()) + (5 if r.end_call else 0)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        call = {"id": _id("call_"), "type": "function", "function": {"name": "end_call", "arguments": "{}"}}
        if not body.get("stream"):
            message = {"role": "assistant", "content": r.text or None}  # type: dict
            if r.end_call:
                message["tool_calls"] = [call]
            return web.json_response({"id": cid, "object": "chat.completion", "created": created, "model": model,
                                      "choices": [{"index": 0, "message": message,
                                                   "finish_reason": "tool_calls" if r.end_call else "stop"}],
                                      "usage": usage})

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                          "x-request-id": _id("req_")})
        await resp.prepare(request)

        async def send(choices: list, **extra) -> None:  # noqa: ANN003
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": choices, **extra}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for word in _words(r.text):
            await send([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
        if r.end_call:
            await send([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                               "function": {"name": "end_call", "arguments": ""}}]},
                         "finish_reason": None}])
            await send([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
                         "finish_reason": None}])
            await send([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        else:
            await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], usage=usage)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # --- speech ------------------------------------------------------------------------------

    async def speech(self, request: web.Request) -> web.StreamResponse:
        if (bad := self.check(request, "speech")) is not None:
            return bad
        self.deaf = False
        body = await request.json()
        text, fmt = body.get("input", ""), body.get("response_format", "mp3")
        pcm = await asyncio.to_thread(audio.synthesize, text, body.get("voice", "alloy"), float(body.get("speed") or 1.0))
        self.clips.add(pcm, text)
        try:
            data, ctype = await asyncio.to_thread(audio.encode, pcm, fmt)
        except ValueError as e:
            return error_response(400, str(e))
        if body.get("stream_format") != "sse":
            return web.Response(body=data, content_type=ctype)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                          "x-request-id": _id("req_")})
        await resp.prepare(request)
        step = 9600
        for i in range(0, len(data), step):
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(data[i:i + step]).decode()}
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        done = {"type": "speech.audio.done", "usage": {"input_tokens": len(text.split()),
                                                       "output_tokens": len(pcm) // 480, "total_tokens": 0}}
        await resp.write(f"data: {json.dumps(done)}\n\n".encode())
        await resp.write_eof()
        return resp

    # --- transcriptions ----------------------------------------------------------------------

    async def transcriptions(self, request: web.Request) -> web.Response:
        if (bad := self.check(request, "transcriptions")) is not None:
            return bad
        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return error_response(400, "file is required")
        data = upload.file.read()
        try:
            pcm = await asyncio.to_thread(audio.decode_upload, data)
        except Exception as e:  # noqa: BLE001
            return error_response(400, f"could not decode audio: {e}")
        text = await asyncio.to_thread(audio.hear, pcm) if self.whisper else self.clips.recognize(pcm)
        if self.deaf or self.fault("deaf"):
            self.deaf, text = True, ""
        fmt = form.get("response_format", "json")
        if fmt == "text":
            return web.Response(text=text)
        out: dict = {"text": text}
        if fmt == "verbose_json":
            out.update(language=form.get("language") or "english", duration=len(pcm) / audio.RATE, segments=[])
        else:
            out["usage"] = {"type": "duration", "seconds": round(len(pcm) / audio.RATE, 2)}
        return web.json_response(out)

    # --- realtime ----------------------------------------------------------------------------

    async def realtime(self, request: web.Request) -> web.StreamResponse:
        if (bad := self.check(request, "realtime_connect")) is not None:
            return bad
        return await realtime_handler(self, request)


@web.middleware
async def _request_id(request: web.Request, handler):  # noqa: ANN001, ANN201
    resp = await handler(request)
    if not resp.prepared:
        resp.headers.setdefault("x-request-id", _id("req_"))
    return resp


def _text(content) -> str:  # noqa: ANN001
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


class LoopbackThread:
    """The server on 127.0.0.1:<free port>, in a background thread with its own event loop."""

    def __init__(self, api_key: str | None = None, port: int = 0, whisper: bool = False) -> None:
        self.server = OpenAILoopback(api_key=api_key, whisper=whisper)
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="openai-loopback", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.server.app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self._port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def start(self) -> LoopbackThread:
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("loopback server did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


__all__ = ["LoopbackThread", "OpenAILoopback"]
