// The live page: joins a conversation's room with the hidden, subscribe-only observer token the
// server mints, plays both agents and shows, per agent, its state, an audio visualizer and the
// line it is saying, and the transcript: each line once, attributed to its speaker, marked when
// its peer cut it off. When the conversation is recorded, the page becomes its player.
// Loaded on demand, so the player does not carry React and livekit-client.
//
// Why not `lk.transcription` for the transcript: livekit-agents publishes what a listener heard
// under the *speaker's* identity and track, so each line arrives twice, alike. Each agent sets
// its `synthconv.line` attribute after every line instead ({n, text, cut}: synthconv/transport/
// protocol.py LINE_ATTR). The words still arrive live on `lk.transcription`, as the line being
// said: a speaker's own transcript is one stream held open while it speaks, a heard one is a
// stream that opens and closes at once (or says it is final from its start).
import {
  BarVisualizer, LiveKitRoom, RoomAudioRenderer, useParticipantAttributes, useRemoteParticipants, useRoomContext,
  useTrackVolume, useTracks, type AgentState, type TrackReference,
} from "@livekit/components-react";
import { RoomEvent, Track, type Participant, type RemoteParticipant } from "livekit-client";
import { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { post, get, type ObserverAccess, type Status } from "./api";

const LINE_ATTR = "synthconv.line";
const ONSET_RMS = 0.01; // -40 dBFS over a 10 ms window is speech (bench/serve_pages.py uses the same)
const QUIET_MS = 300; // an onset follows at least this much quiet

// When each agent's audio starts after a pause, on this machine's clock (performance.timeOrigin +
// now, ms since the epoch), read by bench/serve_pages.py against a listener in the room.
interface Onset { identity: string; at: number }
declare global { interface Window { synthconvLive?: { onsets: Onset[] } } }
const onsets: Onset[] = [];
window.synthconvLive = { onsets };

interface Line { key: string; identity: string; name: string; text: string; cut: boolean }

export async function showLive(app: HTMLElement, cid: string): Promise<() => void> {
  const access = await post<ObserverAccess>(`/conversations/${encodeURIComponent(cid)}/observer-token`);
  const root = createRoot(app);
  root.render(<Live cid={cid} access={access} />);
  return () => root.unmount();
}

function Live({ cid, access }: { cid: string; access: ObserverAccess }) {
  return (
    <LiveKitRoom serverUrl={access.livekit_url} token={access.observer_token} connect audio={false} video={false}>
      <h1>{cid}</h1>
      <StatusLine cid={cid} />
      <RoomAudioRenderer />
      <Speech />
    </LiveKitRoom>
  );
}

function StatusLine({ cid }: { cid: string }) {
  const [status, setStatus] = useState<Status | null>(null);
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const s = await get<Status>(`/conversations/${encodeURIComponent(cid)}/status`);
        if (stop) return;
        setStatus(s);
        if (s.state === "ok" && s.conversation) { // recorded: this page becomes its player
          location.replace(`#/runs/${encodeURIComponent(cid)}/${encodeURIComponent(s.conversation)}`);
          return;
        }
        if (s.state === "failed") return;
      } catch { /* the next poll tells */ }
      if (!stop) setTimeout(poll, 1000);
    };
    void poll();
    return () => { stop = true; };
  }, [cid]);
  if (!status) return <p className="muted">…</p>;
  return <p id="live-state" data-state={status.state}>{status.state}{status.error ? `: ${status.error}` : ""}</p>;
}

function Speech() {
  const room = useRoomContext();
  const [lines, setLines] = useState<Line[]>([]);
  const [saying, setSaying] = useState<Record<string, { id: string; text: string }>>({});

  useEffect(() => { // each line once: the agents' LINE_ATTR, keyed by speaker and line number
    const seen = new Set<string>();
    const take = (p: Participant) => {
      const raw = p.attributes[LINE_ATTR];
      if (!raw) return;
      let line: { n: number; text: string; cut: boolean };
      try { line = JSON.parse(raw); } catch { return; }
      const key = `${p.identity}#${line.n}`;
      if (seen.has(key)) return;
      seen.add(key);
      setLines((ls) => [...ls, { key, identity: p.identity, name: p.name || p.identity, text: line.text, cut: !!line.cut }]);
    };
    const changed = (_: Record<string, string>, p: Participant) => take(p);
    room.on(RoomEvent.ParticipantAttributesChanged, changed);
    room.remoteParticipants.forEach(take);
    return () => { room.off(RoomEvent.ParticipantAttributesChanged, changed); };
  }, [room]);

  useEffect(() => { // the line being said, word by word
    room.registerTextStreamHandler("lk.transcription", async (reader, who) => {
      if (reader.info.attributes?.["lk.transcription_final"] === "true") { // a heard transcript
        await reader.readAll();
        return;
      }
      const id = reader.info.id;
      let text = "";
      for await (const chunk of reader) {
        text += chunk;
        setSaying((s) => ({ ...s, [who.identity]: { id, text } }));
      }
      setSaying((s) => {
        if (s[who.identity]?.id !== id) return s;
        const { [who.identity]: _, ...rest } = s;
        return rest;
      });
    });
    return () => room.unregisterTextStreamHandler("lk.transcription");
  }, [room]);

  return (
    <>
      <Agents saying={saying} />
      <ol id="live-transcript">
        {lines.map((l) => (
          <li key={l.key} data-identity={l.identity} data-cut={String(l.cut)} className={l.cut ? "cut" : ""}>
            <b>{l.name}</b> <span className="text">{l.text}</span>
            {l.cut && <span className="cut-mark" title="its peer cut in"> — cut off</span>}
          </li>
        ))}
      </ol>
    </>
  );
}

function Agents({ saying }: { saying: Record<string, { text: string }> }) {
  const agents = useRemoteParticipants();
  const tracks = useTracks([Track.Source.Microphone]).filter((t): t is TrackReference => t.publication !== undefined);
  return (
    <div className="agents">
      {agents.map((p) => (
        <Agent key={p.identity} participant={p} saying={saying[p.identity]?.text}
          trackRef={tracks.find((t) => t.participant.identity === p.identity)} />
      ))}
    </div>
  );
}

function Agent({ participant, trackRef, saying }: { participant: RemoteParticipant; trackRef?: TrackReference; saying?: string }) {
  const { attributes } = useParticipantAttributes({ participant });
  const state = (attributes?.["lk.agent.state"] ?? "connecting") as AgentState;
  const volume = useTrackVolume(trackRef);
  const peak = useRef(0); // the loudest it has been, for the test and the eye
  peak.current = Math.max(peak.current, volume);
  useOnsets(participant.identity, trackRef);
  return (
    <div className="agent" data-identity={participant.identity} data-peak={peak.current.toFixed(4)}>
      <div className="agent-head"><b>{participant.name || participant.identity}</b> <span className="agent-state">{state}</span></div>
      <BarVisualizer state={state} trackRef={trackRef} barCount={9} options={{ minHeight: 6 }} />
      <p className="saying">{state === "speaking" && saying ? saying : "\u00a0"}</p>
    </div>
  );
}

let audio: AudioContext | null = null;

/** Note in `onsets` each time the agent's audio, as this page plays it, starts after a pause. */
function useOnsets(identity: string, trackRef?: TrackReference) {
  const media = trackRef?.publication?.track?.mediaStreamTrack;
  useEffect(() => {
    if (!media) return;
    audio ??= new AudioContext();
    const source = audio.createMediaStreamSource(new MediaStream([media]));
    const analyser = audio.createAnalyser();
    analyser.fftSize = 512; // about 10 ms at 48 kHz
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let quietSince = performance.now() - QUIET_MS;
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const now = performance.now();
      if (Math.sqrt(sum / samples.length) > ONSET_RMS) {
        if (quietSince !== -1 && now - quietSince >= QUIET_MS) onsets.push({ identity, at: performance.timeOrigin + now });
        quietSince = -1;
      } else if (quietSince === -1) {
        quietSince = now;
      }
    }, 10);
    return () => { clearInterval(timer); source.disconnect(); };
  }, [identity, media]);
}
