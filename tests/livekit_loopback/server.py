"""A minimal LiveKit-protocol server (aiohttp + aiortc + livekit-protocol) for tests.

It speaks enough of the protocol for the real `livekit` SDK (Rust core) and livekit-agents
workers: signalling on /rtc (binary protobuf, two peer connections per participant), audio
relay between participants (decode + re-encode in aiortc), data packets over `_reliable` /
`_lossy`, Twirp RoomService / AgentDispatchService, and the agent worker protocol on /agent.

libwebrtc ignores loopback interfaces: bind the server to a non-loopback address inside a
network namespace (see `netns.py`). Usage:

    server = LoopbackServer("10.200.0.1", 7880, "devkey", "secret")
    await server.start()          # server.url == "ws://10.200.0.1:7880"
    ...
    await server.stop()

Test hooks: `server.drop_next_dispatches = n` makes the next n CreateDispatch calls succeed
without ever assigning a job; `server.rooms`, `server.workers`, `server.dispatches` expose state
(`server.state()` as JSON-able dicts; over HTTP: GET /loopback/state, POST
/loopback/drop_next_dispatches?n=N). `ThreadedLoopbackServer` runs it on its own thread and loop;
`python -m livekit_loopback.server` runs it as a process. See README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt
from aiohttp import WSMsgType, web
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit import api as lkapi
from livekit.protocol import agent as pagent
from livekit.protocol import agent_dispatch as pdispatch
from livekit.protocol import models
from livekit.protocol import room as proom
from livekit.protocol import rtc as prtc

log = logging.getLogger("livekit_loopback")

PROTOCOL_VERSION = 16
SERVER_VERSION = "1.9.0-loopback"
PING_INTERVAL_S = 5
PING_TIMEOUT_S = 15
LEAVE_GRACE_S = 2.0
NEGOTIATION_TIMEOUT_S = 20.0
AVAILABILITY_TIMEOUT_S = 10.0
DISPATCH_DEADLINE_S = 60.0

PI = models.ParticipantInfo
KINDS = {"": PI.STANDARD, "standard": PI.STANDARD, "ingress": PI.INGRESS, "egress": PI.EGRESS,
         "sip": PI.SIP, "agent": PI.AGENT, "connector": PI.CONNECTOR, "bridge": PI.BRIDGE}
SOURCES = {"camera": models.CAMERA, "microphone": models.MICROPHONE, "screen_share": models.SCREEN_SHARE,
           "screen_share_audio": models.SCREEN_SHARE_AUDIO}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def _spawn(tasks: set, coro) -> asyncio.Task:  # noqa: ANN001
    task = asyncio.get_running_loop().create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    task.add_done_callback(_log_task_error)
    return task


def _log_task_error(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


class AuthError(Exception):
    pass


class TwirpError(Exception):
    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


# ---------------------------------------------------------------------------------- media relay

class RelayTrack(MediaStreamTrack):
    """One subscriber's copy of a published track: a small queue fed by the track's pump."""

    total_dropped = 0  # over the process, for diagnostics

    def __init__(self, kind: str, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=25)
        self.dropped = 0  # frames lost because the encoder fell more than the queue behind

    def push(self, frame: Any) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():  # a slow consumer loses the oldest frames, never grows
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
                RelayTrack.total_dropped += 1
        self._queue.put_nowait(frame)

    def end(self) -> None:
        self.push(None)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


@dataclass
class PublishedTrack:
    owner: "Participant"
    info: models.TrackInfo
    source: MediaStreamTrack
    sinks: set = field(default_factory=set)
    pump: asyncio.Task | None = None

    async def run_pump(self) -> None:
        """Read the publisher's track all the time (frames must not pile up) and fan out."""
        try:
            while True:
                try:
                    frame = await self.source.recv()
                except MediaStreamError:
                    break
                for sink in list(self.sinks):
                    sink.push(frame)
        finally:
            for sink in list(self.sinks):
                sink.end()


@dataclass
class Subscription:
    track: PublishedTrack
    sink: RelayTrack
    transceiver: Any


# ---------------------------------------------------------------------------------- participants

class Participant:
    def __init__(self, server: "LoopbackServer", room: "Room", claims: lkapi.access_token.Claims,
                 ws: web.WebSocketResponse, auto_subscribe: bool) -> None:
        g = claims.video
        self.server, self.room, self.ws = server, room, ws
        self.sid = new_id("PA_")
        self.identity = claims.identity
        self.name = claims.name or ""
        self.metadata = claims.metadata or ""
        self.attributes: dict[str, str] = dict(claims.attributes or {})
        self.kind = KINDS.get((claims.kind or "").lower(), PI.STANDARD)
        self.hidden = bool(g.hidden)
        sources = [SOURCES[s] for s in (g.can_publish_sources or []) if s in SOURCES]
        self.permission = models.ParticipantPermission(
            can_subscribe=bool(g.can_subscribe), can_publish=bool(g.can_publish),
            can_publish_data=bool(g.can_publish_data), can_publish_sources=sources, hidden=self.hidden,
            recorder=bool(g.recorder), can_update_metadata=bool(g.can_update_own_metadata),
            agent=bool(g.agent))
        self.auto_subscribe = auto_subscribe
        self.state = PI.JOINED
        self.joined_at = time.time()
        self.version = 1
        self.closed = False
        self.ws_done = asyncio.Event()  # the client's signalling connection has ended
        self.tracks: dict[str, PublishedTrack] = {}  # by track sid
        self.pending: dict[str, models.TrackInfo] = {}  # AddTrackRequest by cid, until media arrives
        self.subscriptions: dict[str, Subscription] = {}  # by track sid
        self._tasks: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()
        self._pub_lock = asyncio.Lock()
        self._candidates: dict[int, list[dict]] = {prtc.PUBLISHER: [], prtc.SUBSCRIBER: []}
        self._offer_id = 0
        # publisher: the client offers, we answer
        self.pub_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pub_pc.on("track", self._on_media)
        self.pub_pc.on("datachannel", self._on_datachannel)
        self.pub_pc.on("connectionstatechange", self._on_pub_state)
        # subscriber: we offer, the client answers. max-bundle, as livekit-server: every track
        # rides the data channels' transport from the start. With aiortc's default (balanced) a
        # second audio track added before the first one's answer took the first one's
        # provisional transport, which the answer's BUNDLE then discarded: that track never
        # played (an observer subscribing to two agents a few ms apart heard only one).
        self.sub_pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.sub_connected = asyncio.Event()
        self.sub_pc.on("connectionstatechange", self._on_sub_state)
        self._sub_answer: asyncio.Future | None = None
        self._sub_dirty = False
        self._sub_task: asyncio.Task | None = None
        self._sub_negotiated_once = False
        self.dcs = {"_reliable": self.sub_pc.createDataChannel("_reliable", ordered=True),
                    "_lossy": self.sub_pc.createDataChannel("_lossy", ordered=False, maxRetransmits=0)}
        # aiortc marks this first transport "not bundled", so an answer whose BUNDLE lists an
        # audio section first would stop it as a leftover, killing the connection: it is shared
        self.sub_pc._RTCPeerConnection__sctp._bundled = True
        self._dc_backlog: dict[str, list[bytes]] = {k: [] for k in self.dcs}
        for label, dc in self.dcs.items():
            dc.on("open", lambda label=label: self._flush_dc(label))

    # ----- info
    def info(self) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid, identity=self.identity, state=self.state, metadata=self.metadata, name=self.name,
            tracks=[t.info for t in self.tracks.values()], joined_at=int(self.joined_at),
            joined_at_ms=int(self.joined_at * 1000), version=self.version, permission=self.permission,
            is_publisher=bool(self.tracks), kind=self.kind, attributes=self.attributes,
            client_protocol=PROTOCOL_VERSION)

    def touch(self) -> None:
        self.version += 1

    # ----- signalling out
    async def send(self, **fields: Any) -> None:
        msg = prtc.SignalResponse(**fields)
        async with self._send_lock:
            if self.ws.closed:
                return
            try:
                await self.ws.send_bytes(msg.SerializeToString())
            except (ConnectionError, RuntimeError) as e:
                log.debug("send to %s failed: %s", self.identity, e)

    # ----- signalling in
    async def handle(self, req: prtc.SignalRequest) -> None:
        which = req.WhichOneof("message")
        if which == "offer":
            await self._on_pub_offer(req.offer)
        elif which == "answer":
            await self._on_sub_answer(req.answer)
        elif which == "trickle":
            await self._on_trickle(req.trickle)
        elif which == "add_track":
            await self._on_add_track(req.add_track)
        elif which == "mute":
            await self._on_mute(req.mute)
        elif which == "subscription":
            self._on_subscription(req.subscription)
        elif which == "update_metadata":
            await self._on_update_metadata(req.update_metadata)
        elif which == "leave":
            await self.close(models.CLIENT_INITIATED)
        elif which == "ping_req":
            await self.send(pong_resp=prtc.Pong(last_ping_timestamp=req.ping_req.timestamp,
                                                timestamp=int(time.time() * 1000)))
        elif which == "ping":
            await self.send(pong=int(time.time() * 1000))
        else:  # track_setting, update_layers, sync_state, simulate, ...: nothing to do here
            log.debug("ignored signal %s from %s", which, self.identity)

    async def _on_pub_offer(self, sd: prtc.SessionDescription) -> None:
        async with self._pub_lock:
            await self.pub_pc.setRemoteDescription(RTCSessionDescription(sdp=sd.sdp, type="offer"))
            await self._flush_candidates(prtc.PUBLISHER)
            await self._detect_unpublished()
            await self.pub_pc.setLocalDescription(await self.pub_pc.createAnswer())
            await self.send(answer=prtc.SessionDescription(type="answer", sdp=self.pub_pc.localDescription.sdp,
                                                           id=sd.id))

    async def _detect_unpublished(self) -> None:
        """The client unpublishes by no longer sending on a track's m-line (then renegotiates)."""
        for sid, pt in list(self.tracks.items()):
            tr = next((t for t in self.pub_pc.getTransceivers() if t.receiver.track is pt.source), None)
            if tr is None or tr._offerDirection not in ("recvonly", "sendrecv"):
                await self.unpublish(sid)

    async def unpublish(self, sid: str) -> None:
        pt = self.tracks.pop(sid, None)
        if pt is None:
            return
        log.info("%s unpublishes %s", self.identity, sid)
        if pt.pump is not None:
            pt.pump.cancel()  # ends every subscriber's copy
        self.touch()
        await self.send(track_unpublished=prtc.TrackUnpublishedResponse(track_sid=sid))
        for o in list(self.room.participants.values()):
            o.unsubscribe(sid)
        await self.room.broadcast_update(self)

    async def _on_sub_answer(self, sd: prtc.SessionDescription) -> None:
        if self.sub_pc.signalingState != "have-local-offer":
            log.warning("unexpected subscriber answer from %s", self.identity)
            return
        log.debug("subscriber answer %d from %s", sd.id, self.identity)
        await self.sub_pc.setRemoteDescription(RTCSessionDescription(sdp=sd.sdp, type="answer"))
        await self._flush_candidates(prtc.SUBSCRIBER)
        if self._sub_answer is not None and not self._sub_answer.done():
            self._sub_answer.set_result(None)

    async def _on_trickle(self, t: prtc.TrickleRequest) -> None:
        if not t.candidateInit:
            return
        init = json.loads(t.candidateInit)
        if not init.get("candidate"):
            return
        pc = self.pub_pc if t.target == prtc.PUBLISHER else self.sub_pc
        if pc.remoteDescription is None:
            self._candidates[t.target].append(init)  # before the remote description: keep for later
        else:
            await _add_candidate(pc, init)

    async def _flush_candidates(self, target: int) -> None:
        pc = self.pub_pc if target == prtc.PUBLISHER else self.sub_pc
        pending, self._candidates[target] = self._candidates[target], []
        for init in pending:
            await _add_candidate(pc, init)

    async def _on_add_track(self, req: prtc.AddTrackRequest) -> None:
        allowed = self.permission.can_publish and (
            not self.permission.can_publish_sources or req.source in self.permission.can_publish_sources)
        if not allowed:
            log.info("%s may not publish track %s", self.identity, req.cid)
            await self.send(request_response=prtc.RequestResponse(
                reason=prtc.RequestResponse.NOT_ALLOWED, message="no permission to publish", add_track=req))
            return
        info = models.TrackInfo(sid=req.sid or new_id("TR_"), type=req.type, name=req.name, muted=req.muted,
                                width=req.width, height=req.height, disable_dtx=req.disable_dtx,
                                source=req.source, stereo=req.stereo, disable_red=req.disable_red,
                                encryption=req.encryption, stream=req.stream,
                                mime_type="audio/opus" if req.type == models.AUDIO else "video/vp8")
        info.audio_features.extend(req.audio_features)
        self.pending[req.cid] = info
        await self.send(track_published=prtc.TrackPublishedResponse(cid=req.cid, track=info))

    async def _on_mute(self, req: prtc.MuteTrackRequest) -> None:
        t = self.tracks.get(req.sid)
        if t is None:
            return
        t.info.muted = req.muted
        self.touch()
        await self.room.broadcast_update(self)

    def _on_subscription(self, req: prtc.UpdateSubscription) -> None:
        sids = list(req.track_sids) + [s for pt in req.participant_tracks for s in pt.track_sids]
        for sid in sids:
            track = self.room.find_track(sid)
            if req.subscribe and track is not None:
                self.subscribe(track)
            elif not req.subscribe:
                self.unsubscribe(sid)

    async def _on_update_metadata(self, req: prtc.UpdateParticipantMetadata) -> None:
        if not self.permission.can_update_metadata:
            await self.send(request_response=prtc.RequestResponse(
                request_id=req.request_id, reason=prtc.RequestResponse.NOT_ALLOWED,
                message="does not have permission to update own metadata", update_metadata=req))
            return
        if req.name:
            self.name = req.name
        if req.metadata:
            self.metadata = req.metadata
        for k, v in req.attributes.items():
            if v:
                self.attributes[k] = v
            else:
                self.attributes.pop(k, None)
        self.touch()
        await self.send(request_response=prtc.RequestResponse(request_id=req.request_id,
                                                              reason=prtc.RequestResponse.OK))
        await self.room.broadcast_update(self, include_self=True)

    # ----- publisher side
    def _on_media(self, track: MediaStreamTrack) -> None:
        info = self.pending.pop(track.id, None)
        if info is None:  # fall back on the oldest pending track of the same kind
            want = models.AUDIO if track.kind == "audio" else models.VIDEO
            cid = next((c for c, i in self.pending.items() if i.type == want), None)
            info = self.pending.pop(cid) if cid is not None else None
        if info is None:
            log.warning("%s sent media %s nobody announced; draining it", self.identity, track.id)
            info = models.TrackInfo(sid=new_id("TR_"))
            pt = PublishedTrack(self, info, track)
            pt.pump = _spawn(self._tasks, pt.run_pump())
            return
        log.info("%s publishes %s track %s", self.identity, track.kind, info.sid)
        pt = PublishedTrack(self, info, track)
        pt.pump = _spawn(self._tasks, pt.run_pump())
        self.tracks[info.sid] = pt
        self.touch()
        _spawn(self._tasks, self.room.on_track_published(pt))

    def _on_datachannel(self, channel: Any) -> None:
        label = channel.label

        @channel.on("message")
        def _on_message(message: Any) -> None:
            if isinstance(message, bytes) and label in ("_reliable", "_lossy"):
                self.room.forward_data(self, label, message)

    async def _on_pub_state(self) -> None:
        state = self.pub_pc.connectionState
        log.debug("%s publisher %s", self.identity, state)
        if state == "connected" and self.state == PI.JOINED:
            self.state = PI.ACTIVE
            self.touch()
            await self.room.broadcast_update(self)

    # ----- subscriber side
    async def _on_sub_state(self) -> None:
        state = self.sub_pc.connectionState
        log.debug("%s subscriber %s", self.identity, state)
        # aiortc reports "connecting" again while a new transceiver's (soon bundled) transport is
        # unused: only the first "connected" matters (DTLS up, new senders can start)
        if state == "connected":
            self.sub_connected.set()
        elif state in ("failed", "closed"):
            self.sub_connected.clear()

    def subscribe(self, track: PublishedTrack) -> None:
        sid = track.info.sid
        if self.closed or sid in self.subscriptions or not self.permission.can_subscribe:
            return
        sink = RelayTrack(track.source.kind, sid)
        transceiver = self.sub_pc.addTransceiver(sink, direction="sendonly")
        # the client maps a remote track only through this msid
        transceiver.sender._stream_id = f"{track.owner.sid}|{sid}"
        transceiver.sender._track_id = sid
        track.sinks.add(sink)
        self.subscriptions[sid] = Subscription(track, sink, transceiver)
        log.info("%s subscribes to %s of %s", self.identity, sid, track.owner.identity)
        self.negotiate_subscriber()
        # the publisher learns it has a listener: livekit-agents waits for this before speaking
        _spawn(self.server._tasks, track.owner.send(track_subscribed=prtc.TrackSubscribed(track_sid=sid)))

    def unsubscribe(self, sid: str, renegotiate: bool = True) -> None:
        sub = self.subscriptions.pop(sid, None)
        if sub is None:
            return
        sub.track.sinks.discard(sub.sink)
        sub.sink.end()
        sub.transceiver.direction = "inactive"
        if renegotiate:
            self.negotiate_subscriber()

    def negotiate_subscriber(self) -> None:
        self._sub_dirty = True
        if not self.closed and (self._sub_task is None or self._sub_task.done()):
            self._sub_task = _spawn(self._tasks, self._sub_negotiation_loop())

    async def _sub_negotiation_loop(self) -> None:
        """One subscriber offer at a time; renegotiate only once connected (aiortc starts new
        senders only on a connected DTLS transport)."""
        while self._sub_dirty and not self.closed:
            if self._sub_negotiated_once:
                try:
                    await asyncio.wait_for(self.sub_connected.wait(), NEGOTIATION_TIMEOUT_S)
                except asyncio.TimeoutError:
                    log.warning("subscriber of %s never connected", self.identity)
                    return
            self._sub_dirty = False
            await self.sub_pc.setLocalDescription(await self.sub_pc.createOffer())
            mids = {s.transceiver.mid: sid for sid, s in self.subscriptions.items() if s.transceiver.mid}
            self._offer_id += 1
            self._sub_answer = asyncio.get_running_loop().create_future()
            log.debug("subscriber offer %d to %s (tracks %s)", self._offer_id, self.identity, mids)
            await self.send(offer=prtc.SessionDescription(type="offer", sdp=self.sub_pc.localDescription.sdp,
                                                          id=self._offer_id, mid_to_track_id=mids))
            try:
                await asyncio.wait_for(self._sub_answer, NEGOTIATION_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("no subscriber answer from %s", self.identity)
                return
            self._sub_negotiated_once = True

    def send_data(self, label: str, data: bytes) -> None:
        dc = self.dcs[label]
        if dc.readyState == "open":
            try:
                dc.send(data)
            except Exception as e:  # noqa: BLE001 - one broken receiver must not stop the others
                log.debug("data to %s failed: %s", self.identity, e)
        elif dc.readyState == "connecting":
            self._dc_backlog[label].append(data)

    def _flush_dc(self, label: str) -> None:
        backlog, self._dc_backlog[label] = self._dc_backlog[label], []
        for data in backlog:
            self.dcs[label].send(data)

    # ----- teardown
    async def close(self, reason: int, send_leave: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if send_leave:
            await self.send(leave=prtc.LeaveRequest(can_reconnect=False, reason=reason,
                                                    action=prtc.LeaveRequest.DISCONNECT))
            with contextlib.suppress(asyncio.TimeoutError):  # let the client leave by itself first
                await asyncio.wait_for(self.ws_done.wait(), LEAVE_GRACE_S)
        self.state = PI.DISCONNECTED
        self.touch()
        await self.room.remove(self, reason)
        for sid in list(self.subscriptions):
            self.unsubscribe(sid, renegotiate=False)
        if self._sub_answer is not None and not self._sub_answer.done():
            self._sub_answer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        for pt in self.tracks.values():
            pt.source.stop()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        for pc in (self.pub_pc, self.sub_pc):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5)


async def _add_candidate(pc: RTCPeerConnection, init: dict) -> None:
    text = init["candidate"]
    if text.startswith("candidate:"):
        text = text[len("candidate:"):]
    try:
        cand = candidate_from_sdp(text)
    except Exception:  # noqa: BLE001 - an odd candidate must not kill the session
        log.debug("unparsable candidate %r", text)
        return
    if cand.protocol.lower() != "udp":
        return
    cand.sdpMid = init.get("sdpMid")
    cand.sdpMLineIndex = init.get("sdpMLineIndex")
    with contextlib.suppress(Exception):
        await pc.addIceCandidate(cand)


# ---------------------------------------------------------------------------------- rooms

class Room:
    def __init__(self, server: "LoopbackServer", name: str, empty_timeout: int = 0, departure_timeout: int = 0,
                 max_participants: int = 0, metadata: str = "") -> None:
        self.server, self.name = server, name
        self.sid = new_id("RM_")
        self.created = time.time()
        self.empty_timeout = empty_timeout or 300
        self.departure_timeout = departure_timeout or 20
        self.max_participants = max_participants
        self.metadata = metadata
        self.participants: dict[str, Participant] = {}  # by identity
        self.closed = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._arm_close(self.empty_timeout)

    def proto(self) -> models.Room:
        return models.Room(sid=self.sid, name=self.name, empty_timeout=self.empty_timeout,
                           departure_timeout=self.departure_timeout, max_participants=self.max_participants,
                           creation_time=int(self.created), creation_time_ms=int(self.created * 1000),
                           metadata=self.metadata, num_participants=len(self.participants),
                           num_publishers=sum(1 for p in self.participants.values() if p.tracks))

    def _arm_close(self, after: float) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(after, lambda: _spawn(self.server._tasks, self.server.close_room(self)))

    def visible(self, exclude: Participant | None = None) -> list[Participant]:
        return [p for p in self.participants.values() if p is not exclude and not p.hidden and not p.closed]

    def find_track(self, sid: str) -> PublishedTrack | None:
        for p in self.participants.values():
            if sid in p.tracks and not p.hidden:
                return p.tracks[sid]
        return None

    async def join(self, p: Participant) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        old = self.participants.get(p.identity)
        if old is not None:
            await old.close(models.DUPLICATE_IDENTITY, send_leave=True)
        self.participants[p.identity] = p
        await p.send(join=prtc.JoinResponse(
            room=self.proto(), participant=p.info(), other_participants=[o.info() for o in self.visible(p)],
            server_version=SERVER_VERSION, subscriber_primary=False, ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            server_info=models.ServerInfo(edition=models.ServerInfo.Standard, version=SERVER_VERSION,
                                          protocol=PROTOCOL_VERSION, node_id="loopback")))
        if not p.hidden:
            await self.broadcast_update(p)
        if p.auto_subscribe:
            for other in self.visible(p):
                for track in list(other.tracks.values()):
                    p.subscribe(track)
        p.negotiate_subscriber()  # the first offer carries the data channels

    async def broadcast_update(self, p: Participant, include_self: bool = False) -> None:
        update = prtc.ParticipantUpdate(participants=[p.info()])
        targets = [o for o in self.participants.values() if (o is not p or include_self) and not o.closed]
        if p.hidden:
            targets = [p] if include_self and not p.closed else []
        await asyncio.gather(*(o.send(update=update) for o in targets))

    async def on_track_published(self, track: PublishedTrack) -> None:
        owner = track.owner
        if owner.hidden or owner.closed:
            return
        await self.broadcast_update(owner)  # a ParticipantUpdate listing the track precedes its media
        for o in list(self.participants.values()):
            if o is not owner and o.auto_subscribe:
                o.subscribe(track)

    def forward_data(self, sender: Participant, label: str, raw: bytes) -> None:
        if not sender.permission.can_publish_data or sender.closed:
            return
        pkt = models.DataPacket()
        try:
            pkt.ParseFromString(raw)
        except Exception:  # noqa: BLE001
            return
        pkt.participant_identity = sender.identity
        pkt.participant_sid = sender.sid
        dests = set(pkt.destination_identities)
        if pkt.HasField("user"):
            pkt.user.participant_identity = sender.identity
            pkt.user.participant_sid = sender.sid
            dests |= set(pkt.user.destination_identities)
        self.deliver_data(pkt, label, dests, exclude=sender)

    def deliver_data(self, pkt: models.DataPacket, label: str, dests: set[str],
                     exclude: Participant | None = None) -> None:
        data = pkt.SerializeToString()
        for o in list(self.participants.values()):
            if o is exclude or o.closed or (dests and o.identity not in dests):
                continue
            o.send_data(label, data)

    async def remove(self, p: Participant, reason: int) -> None:
        if self.participants.get(p.identity) is not p:
            return
        del self.participants[p.identity]
        for o in list(self.participants.values()):
            for sid in p.tracks:
                o.unsubscribe(sid)
        if not p.hidden:
            info = p.info()
            info.disconnect_reason = reason
            update = prtc.ParticipantUpdate(participants=[info])
            await asyncio.gather(*(o.send(update=update) for o in list(self.participants.values())))
        if not self.participants and not self.closed:
            self._arm_close(self.departure_timeout)


# ---------------------------------------------------------------------------------- agent workers

@dataclass
class Worker:
    id: str
    ws: web.WebSocketResponse
    agent_name: str
    namespace: str
    permissions: models.ParticipantPermission
    status: int = pagent.WS_AVAILABLE
    load: float = 0.0
    jobs: dict[str, pagent.Job] = field(default_factory=dict)
    closed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, msg: pagent.ServerMessage) -> None:
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_bytes(msg.SerializeToString())


# ---------------------------------------------------------------------------------- the server

class LoopbackServer:
    def __init__(self, host: str, port: int, api_key: str, api_secret: str) -> None:
        self.host, self.port = host, port
        self.api_key, self.api_secret = api_key, api_secret
        self.rooms: dict[str, Room] = {}
        self.workers: dict[str, Worker] = {}
        self.dispatches: dict[str, pdispatch.AgentDispatch] = {}  # by dispatch id
        self.drop_next_dispatches = 0  # test hook: succeed, then never assign
        self._availability: dict[str, asyncio.Future] = {}  # by job id
        self._dispatch_tasks: dict[str, asyncio.Task] = {}  # by dispatch id
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._verifier = lkapi.TokenVerifier(api_key, api_secret)
        self._twirp: dict[tuple[str, str], tuple[type[Message], Callable]] = {
            ("RoomService", "CreateRoom"): (proom.CreateRoomRequest, self._create_room),
            ("RoomService", "ListRooms"): (proom.ListRoomsRequest, self._list_rooms),
            ("RoomService", "DeleteRoom"): (proom.DeleteRoomRequest, self._delete_room),
            ("RoomService", "ListParticipants"): (proom.ListParticipantsRequest, self._list_participants),
            ("RoomService", "GetParticipant"): (proom.RoomParticipantIdentity, self._get_participant),
            ("RoomService", "RemoveParticipant"): (proom.RoomParticipantIdentity, self._remove_participant),
            ("RoomService", "SendData"): (proom.SendDataRequest, self._send_data),
            ("AgentDispatchService", "CreateDispatch"): (pdispatch.CreateAgentDispatchRequest,
                                                         self._create_dispatch),
            ("AgentDispatchService", "DeleteDispatch"): (pdispatch.DeleteAgentDispatchRequest,
                                                         self._delete_dispatch),
            ("AgentDispatchService", "ListDispatch"): (pdispatch.ListAgentDispatchRequest, self._list_dispatch),
        }

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/rtc/validate", self._rtc_validate)
        app.router.add_get("/rtc", self._rtc)
        app.router.add_route("*", "/rtc/v1{tail:.*}", self._not_found)  # the SDK then falls back to /rtc
        app.router.add_get("/agent", self._agent)
        app.router.add_post("/twirp/livekit.{service}/{method}", self._twirp_handler)
        app.router.add_get("/", lambda _: web.Response(text="OK"))
        app.router.add_get("/loopback/state", self._state_handler)  # test hooks for other processes
        app.router.add_post("/loopback/drop_next_dispatches", self._drop_handler)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("loopback LiveKit server on %s", self.url)

    async def stop(self) -> None:
        for room in list(self.rooms.values()):
            await self.close_room(room, reason=models.SERVER_SHUTDOWN)
        for w in list(self.workers.values()):
            with contextlib.suppress(Exception):
                await w.ws.close()
        for task in list(self._tasks) + list(self._dispatch_tasks.values()):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----- auth
    def verify(self, request: web.Request) -> lkapi.access_token.Claims:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.query.get("access_token", "")
        if not token:
            raise AuthError("no authorization token")
        try:
            return self._verifier.verify(token)
        except (jwt.PyJWTError, ValueError, TypeError) as e:
            raise AuthError(f"invalid token: {e}") from None

    def _join_claims(self, request: web.Request) -> lkapi.access_token.Claims:
        claims = self.verify(request)
        if not claims.video or not claims.video.room_join or not claims.video.room:
            raise AuthError("token has no roomJoin grant")
        if not claims.identity:
            raise AuthError("token has no identity")
        return claims

    def ensure_room(self, name: str, agents: list | None = None, **opts: Any) -> Room:
        """The open room of that name, created if needed. A new room gets the given explicit
        dispatches (RoomAgentDispatch) and one automatic dispatch if a worker without an agent
        name is registered."""
        room = self.rooms.get(name)
        if room is None or room.closed:
            room = Room(self, name, **opts)
            self.rooms[name] = room
            for a in agents or []:
                self.dispatch(room, a.agent_name, a.metadata, dict(a.attributes))
            if any(w.agent_name == "" for w in self.workers.values()):
                self.dispatch(room, "")
        return room

    async def close_room(self, room: Room, reason: int = models.ROOM_DELETED) -> None:
        if room.closed:
            return
        room.closed = True
        if room._close_timer is not None:
            room._close_timer.cancel()
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
        for d in [d for d in self.dispatches.values() if d.room == room.name]:
            await self._end_dispatch(d)
        await asyncio.gather(*(p.close(reason, send_leave=True) for p in list(room.participants.values())))

    # ----- test hooks over HTTP (for tests running the server in another process)
    def state(self) -> dict:
        return {
            "rooms": {r.name: {"sid": r.sid, "participants": {
                p.identity: {"sid": p.sid, "kind": PI.Kind.Name(p.kind), "hidden": p.hidden,
                             "state": PI.State.Name(p.state), "tracks": sorted(p.tracks),
                             "subscriptions": sorted(p.subscriptions), "attributes": p.attributes}
                for p in r.participants.values()}} for r in self.rooms.values()},
            "workers": {w.id: {"agent_name": w.agent_name, "jobs": sorted(w.jobs), "status": w.status}
                        for w in self.workers.values()},
            "dispatches": {d.id: {"agent_name": d.agent_name, "room": d.room, "metadata": d.metadata,
                                  "jobs": [{"id": j.id, "status": pagent.JobStatus.Name(j.state.status),
                                            "participant_identity": j.state.participant_identity}
                                           for j in d.state.jobs]} for d in self.dispatches.values()},
            "drop_next_dispatches": self.drop_next_dispatches,
            "relay_dropped_frames": RelayTrack.total_dropped,
        }

    async def _state_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _drop_handler(self, request: web.Request) -> web.Response:
        self.drop_next_dispatches = int(request.query.get("n", "1"))
        return web.json_response({"drop_next_dispatches": self.drop_next_dispatches})

    # ----- /rtc
    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="not found")

    async def _rtc_validate(self, request: web.Request) -> web.Response:
        try:
            self._join_claims(request)
        except AuthError as e:
            return web.Response(status=401, text=str(e))
        return web.Response(text="success")

    async def _rtc(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self._join_claims(request)
        except AuthError as e:
            log.info("rejected /rtc: %s", e)
            return web.Response(status=401, text=str(e))
        cfg = claims.room_config
        room = self.ensure_room(claims.video.room, agents=list(cfg.agents) if cfg else None,
                                **({"empty_timeout": cfg.empty_timeout, "departure_timeout": cfg.departure_timeout,
                                    "max_participants": cfg.max_participants} if cfg else {}))
        if room.max_participants and claims.identity not in room.participants \
                and len(room.participants) >= room.max_participants:
            return web.Response(status=403, text="room is full")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        auto_subscribe = request.query.get("auto_subscribe", "1") not in ("0", "false")
        p = Participant(self, room, claims, ws, auto_subscribe)
        log.info("%s joins %s as %s", p.identity, room.name, PI.Kind.Name(p.kind))
        try:
            await room.join(p)
            async for msg in ws:
                if p.closed:
                    break
                if msg.type != WSMsgType.BINARY:
                    continue
                req = prtc.SignalRequest()
                req.ParseFromString(msg.data)
                try:
                    await p.handle(req)
                except Exception:  # noqa: BLE001 - keep the session alive, report it
                    log.exception("signal %s from %s failed", req.WhichOneof("message"), p.identity)
                if p.closed:
                    break
        finally:
            p.ws_done.set()
            await p.close(models.CLIENT_INITIATED)
        return ws

    # ----- /agent
    async def _agent(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self.verify(request)
            if not claims.video or not claims.video.agent:
                raise AuthError("token has no agent grant")
        except AuthError as e:
            return web.Response(status=401, text=str(e))
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        worker: Worker | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                wm = pagent.WorkerMessage()
                wm.ParseFromString(msg.data)
                which = wm.WhichOneof("message")
                if which == "register":
                    r = wm.register
                    worker = Worker(id=new_id("AW_"), ws=ws, agent_name=r.agent_name, namespace=r.namespace,
                                    permissions=r.allowed_permissions)
                    self.workers[worker.id] = worker
                    log.info("worker %s registered for agent %r", worker.id, r.agent_name)
                    await worker.send(pagent.ServerMessage(register=pagent.RegisterWorkerResponse(
                        worker_id=worker.id, server_info=models.ServerInfo(
                            edition=models.ServerInfo.Standard, version=SERVER_VERSION,
                            protocol=PROTOCOL_VERSION, node_id="loopback", agent_protocol=1))))
                elif worker is None:
                    continue
                elif which == "availability":
                    fut = self._availability.get(wm.availability.job_id)
                    if fut is not None and not fut.done():
                        fut.set_result((worker, wm.availability))
                elif which == "update_worker":
                    worker.status = wm.update_worker.status
                    worker.load = wm.update_worker.load
                elif which == "update_job":
                    self._on_job_update(worker, wm.update_job)
                elif which == "ping":
                    await worker.send(pagent.ServerMessage(pong=pagent.WorkerPong(
                        last_timestamp=wm.ping.timestamp, timestamp=int(time.time() * 1000))))
        finally:
            if worker is not None:
                worker.closed = True
                self.workers.pop(worker.id, None)
        return ws

    def _on_job_update(self, worker: Worker, upd: pagent.UpdateJobStatus) -> None:
        job = worker.jobs.get(upd.job_id)
        if job is None:
            return
        job.state.status = upd.status
        job.state.error = upd.error
        job.state.updated_at = int(time.time() * 1e9)
        if upd.status in (pagent.JS_SUCCESS, pagent.JS_FAILED):
            job.state.ended_at = int(time.time() * 1e9)
            worker.jobs.pop(upd.job_id, None)

    async def _run_dispatch(self, d: pdispatch.AgentDispatch, room: Room) -> None:
        """Offer the job to workers registered for the agent name until one accepts."""
        loop = asyncio.get_running_loop()
        job = pagent.Job(id=new_id("AJ_"), dispatch_id=d.id, type=pagent.JT_ROOM, room=room.proto(),
                         metadata=d.metadata, agent_name=d.agent_name,
                         state=pagent.JobState(status=pagent.JS_PENDING, updated_at=int(time.time() * 1e9)))
        job.attributes.update(d.attributes)
        d.state.jobs.append(job)
        job = d.state.jobs[-1]  # append copied it: work on the dispatch's own copy
        deadline = loop.time() + DISPATCH_DEADLINE_S
        declined: set[str] = set()
        while loop.time() < deadline and not room.closed and d.id in self.dispatches:
            workers = [w for w in self.workers.values() if w.agent_name == d.agent_name and not w.closed
                       and w.status == pagent.WS_AVAILABLE]
            if not workers:
                await asyncio.sleep(0.5)
                continue
            fresh = [w for w in workers if w.id not in declined]
            if not fresh:  # everyone declined: wait and offer again
                declined.clear()
                await asyncio.sleep(1.0)
                continue
            w = min(fresh, key=lambda w: (len(w.jobs), w.load))
            fut = loop.create_future()
            self._availability[job.id] = fut
            try:
                await w.send(pagent.ServerMessage(availability=pagent.AvailabilityRequest(job=job)))
                _, resp = await asyncio.wait_for(fut, AVAILABILITY_TIMEOUT_S)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                declined.add(w.id)
                continue
            finally:
                self._availability.pop(job.id, None)
            if not resp.available:
                declined.add(w.id)
                if resp.terminate:
                    break
                continue
            identity = resp.participant_identity or f"agent-{job.id}"
            p = w.permissions
            grants = lkapi.VideoGrants(room_join=True, room=room.name, agent=True, can_publish=p.can_publish,
                                       can_subscribe=p.can_subscribe, can_publish_data=p.can_publish_data,
                                       can_update_own_metadata=p.can_update_metadata, hidden=p.hidden or None)
            attrs = dict(resp.participant_attributes)
            tok = (lkapi.AccessToken(self.api_key, self.api_secret).with_identity(identity).with_kind("agent")
                   .with_name(resp.participant_name).with_metadata(resp.participant_metadata).with_grants(grants))
            if attrs:
                tok = tok.with_attributes(attrs)
            job.state.status = pagent.JS_RUNNING
            job.state.participant_identity = identity
            job.state.worker_id = w.id
            job.state.started_at = job.state.updated_at = int(time.time() * 1e9)
            w.jobs[job.id] = job
            try:
                await w.send(pagent.ServerMessage(assignment=pagent.JobAssignment(job=job, url=self.url,
                                                                                  token=tok.to_jwt())))
            except (ConnectionError, RuntimeError):
                w.jobs.pop(job.id, None)
                declined.add(w.id)
                continue
            log.info("job %s (dispatch %s) assigned to %s as %s", job.id, d.id, w.id, identity)
            return
        job.state.status = pagent.JS_FAILED
        job.state.error = "no worker accepted the job"
        log.warning("dispatch %s of %r to %s was never assigned", d.id, d.agent_name, room.name)

    async def _end_dispatch(self, d: pdispatch.AgentDispatch) -> None:
        self.dispatches.pop(d.id, None)
        d.state.deleted_at = int(time.time() * 1e9)
        task = self._dispatch_tasks.pop(d.id, None)
        if task is not None:
            task.cancel()
        for job in d.state.jobs:
            for w in list(self.workers.values()):
                if w.jobs.pop(job.id, None) is not None:
                    with contextlib.suppress(Exception):
                        await w.send(pagent.ServerMessage(termination=pagent.JobTermination(job_id=job.id)))

    def dispatch(self, room: Room, agent_name: str, metadata: str = "", attributes: dict | None = None,
                 ) -> pdispatch.AgentDispatch:
        d = pdispatch.AgentDispatch(id=new_id("AD_"), agent_name=agent_name, room=room.name, metadata=metadata,
                                    state=pdispatch.AgentDispatchState(created_at=int(time.time() * 1e9)))
        d.attributes.update(attributes or {})
        self.dispatches[d.id] = d
        if self.drop_next_dispatches > 0:
            self.drop_next_dispatches -= 1
            log.info("dropping dispatch %s (test hook)", d.id)
            return d
        task = asyncio.get_running_loop().create_task(self._run_dispatch(d, room))
        task.add_done_callback(_log_task_error)
        self._dispatch_tasks[d.id] = task
        task.add_done_callback(lambda _t, i=d.id: self._dispatch_tasks.pop(i, None))
        return d

    # ----- Twirp
    async def _twirp_handler(self, request: web.Request) -> web.Response:
        service, method = request.match_info["service"], request.match_info["method"]
        as_json = request.content_type == "application/json"
        try:
            entry = self._twirp.get((service, method))
            if entry is None:
                raise TwirpError(404, "bad_route", f"no handler for livekit.{service}/{method}")
            try:
                claims = self.verify(request)
            except AuthError as e:
                raise TwirpError(401, "unauthenticated", str(e)) from None
            req_type, handler = entry
            body = await request.read()
            try:
                req = json_format.Parse(body or b"{}", req_type(), ignore_unknown_fields=True) if as_json \
                    else req_type.FromString(body)
            except Exception as e:  # noqa: BLE001
                raise TwirpError(400, "malformed", f"cannot decode request: {e}") from None
            resp = await handler(req, claims.video or lkapi.VideoGrants())
        except TwirpError as e:
            return web.json_response({"code": e.code, "msg": e.msg}, status=e.status)
        except Exception as e:  # noqa: BLE001 - a bug here: say so in Twirp's shape
            log.exception("twirp %s/%s failed", service, method)
            return web.json_response({"code": "internal", "msg": repr(e)}, status=500)
        if as_json:
            return web.Response(body=json_format.MessageToJson(resp), content_type="application/json")
        return web.Response(body=resp.SerializeToString(), content_type="application/protobuf")

    @staticmethod
    def _need(ok: Any, what: str) -> None:
        if not ok:
            raise TwirpError(403, "permission_denied", f"requires {what} grant")

    def _room_admin(self, g: lkapi.VideoGrants, room: str) -> None:
        self._need(g.room_admin and (not g.room or g.room == room), f"roomAdmin for room {room!r}")

    def _existing_room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            raise TwirpError(404, "not_found", f"room {name!r} not found")
        return room

    async def _create_room(self, req: proom.CreateRoomRequest, g: lkapi.VideoGrants) -> models.Room:
        self._need(g.room_create, "roomCreate")
        if not req.name:
            raise TwirpError(400, "invalid_argument", "room name is required")
        room = self.rooms.get(req.name)
        if room is None:
            room = self.ensure_room(req.name, agents=list(req.agents), empty_timeout=req.empty_timeout,
                                    departure_timeout=req.departure_timeout,
                                    max_participants=req.max_participants, metadata=req.metadata)
        return room.proto()

    async def _list_rooms(self, req: proom.ListRoomsRequest, g: lkapi.VideoGrants) -> proom.ListRoomsResponse:
        self._need(g.room_list, "roomList")
        rooms = [r for r in self.rooms.values() if not req.names or r.name in req.names]
        return proom.ListRoomsResponse(rooms=[r.proto() for r in rooms])

    async def _delete_room(self, req: proom.DeleteRoomRequest, g: lkapi.VideoGrants) -> proom.DeleteRoomResponse:
        self._need(g.room_create, "roomCreate")
        await self.close_room(self._existing_room(req.room), reason=models.ROOM_DELETED)
        return proom.DeleteRoomResponse()

    async def _list_participants(self, req: proom.ListParticipantsRequest, g: lkapi.VideoGrants,
                                 ) -> proom.ListParticipantsResponse:
        self._room_admin(g, req.room)
        room = self._existing_room(req.room)
        return proom.ListParticipantsResponse(participants=[p.info() for p in room.participants.values()])

    def _participant(self, req: proom.RoomParticipantIdentity, g: lkapi.VideoGrants) -> Participant:
        self._room_admin(g, req.room)
        p = self._existing_room(req.room).participants.get(req.identity)
        if p is None:
            raise TwirpError(404, "not_found", f"participant {req.identity!r} not found")
        return p

    async def _get_participant(self, req: proom.RoomParticipantIdentity, g: lkapi.VideoGrants,
                               ) -> models.ParticipantInfo:
        return self._participant(req, g).info()

    async def _remove_participant(self, req: proom.RoomParticipantIdentity, g: lkapi.VideoGrants,
                                  ) -> proom.RemoveParticipantResponse:
        await self._participant(req, g).close(models.PARTICIPANT_REMOVED, send_leave=True)
        return proom.RemoveParticipantResponse()

    async def _send_data(self, req: proom.SendDataRequest, g: lkapi.VideoGrants) -> proom.SendDataResponse:
        self._room_admin(g, req.room)
        room = self._existing_room(req.room)
        dests = set(req.destination_identities)
        pkt = models.DataPacket(kind=req.kind, destination_identities=req.destination_identities,
                                user=models.UserPacket(payload=req.data, topic=req.topic or None,
                                                       destination_identities=req.destination_identities))
        room.deliver_data(pkt, "_lossy" if req.kind == models.DataPacket.LOSSY else "_reliable", dests)
        return proom.SendDataResponse()

    async def _create_dispatch(self, req: pdispatch.CreateAgentDispatchRequest, g: lkapi.VideoGrants,
                               ) -> pdispatch.AgentDispatch:
        self._room_admin(g, req.room)
        if not req.room:
            raise TwirpError(400, "invalid_argument", "room is required")
        return self.dispatch(self.ensure_room(req.room), req.agent_name, req.metadata, dict(req.attributes))

    async def _delete_dispatch(self, req: pdispatch.DeleteAgentDispatchRequest, g: lkapi.VideoGrants,
                               ) -> pdispatch.AgentDispatch:
        self._room_admin(g, req.room)
        d = self.dispatches.get(req.dispatch_id)
        if d is None or d.room != req.room:
            raise TwirpError(404, "not_found", f"dispatch {req.dispatch_id!r} not found")
        await self._end_dispatch(d)
        return d

    async def _list_dispatch(self, req: pdispatch.ListAgentDispatchRequest, g: lkapi.VideoGrants,
                             ) -> pdispatch.ListAgentDispatchResponse:
        self._room_admin(g, req.room)
        found = [d for d in self.dispatches.values() if d.room == req.room
                 and (not req.dispatch_id or d.id == req.dispatch_id)]
        return pdispatch.ListAgentDispatchResponse(agent_dispatches=found)


# ---------------------------------------------------------------------------------- other ways to run it

def main() -> None:
    """`python -m livekit_loopback.server --host 10.200.0.1 --port 7880 --api-key K --api-secret S`:
    serve until SIGTERM / SIGINT (inside the test's network namespace)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="10.200.0.1")
    parser.add_argument("--port", type=int, default=7880)
    parser.add_argument("--api-key", default="devkey")
    parser.add_argument("--api-secret", default="secret")
    parser.add_argument("--drop-dispatches", type=int, default=0, help="silently drop the first N dispatches")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    async def serve() -> None:
        server = LoopbackServer(args.host, args.port, args.api_key, args.api_secret)
        server.drop_next_dispatches = args.drop_dispatches
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(f"READY {server.url}", flush=True)
        await stop.wait()
        await asyncio.wait_for(server.stop(), 15)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
