// The live page: joins a conversation's room with the hidden, subscribe-only observer token the
// server mints, plays both agents and shows, per agent, its state and an audio visualizer, and
// the live transcript from the agents' transcription streams, all with LiveKit's own components.
// Loaded on demand, so the player does not carry React and livekit-client.
import {
  BarVisualizer, LiveKitRoom, RoomAudioRenderer, useParticipantAttributes, useRemoteParticipants, useTrackVolume,
  useTracks, useTranscriptions, type AgentState, type TrackReference,
} from "@livekit/components-react";
import { Track, type RemoteParticipant } from "livekit-client";
import { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { API } from "./api";

interface Access { room: string; livekit_url: string; observer_token: string }
interface Status { state: string; error: string | null; participants: { identity: string; role: string }[] }

export async function showLive(app: HTMLElement, cid: string): Promise<() => void> {
  const res = await fetch(`${API}/conversations/${encodeURIComponent(cid)}/observer-token`, { method: "POST" });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).detail ?? `${res.status} ${res.statusText}`);
  const access = (await res.json()) as Access;
  const root = createRoot(app);
  root.render(<Live cid={cid} access={access} />);
  return () => root.unmount();
}

function Live({ cid, access }: { cid: string; access: Access }) {
  return (
    <LiveKitRoom serverUrl={access.livekit_url} token={access.observer_token} connect audio={false} video={false}>
      <h1>{cid}</h1>
      <StatusLine cid={cid} />
      <RoomAudioRenderer />
      <Agents />
      <Transcript />
    </LiveKitRoom>
  );
}

function StatusLine({ cid }: { cid: string }) {
  const [status, setStatus] = useState<Status | null>(null);
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      const r = await fetch(`${API}/conversations/${encodeURIComponent(cid)}/status`);
      if (r.ok && !stop) setStatus(await r.json());
      if (!stop) setTimeout(poll, 1000);
    };
    void poll();
    return () => { stop = true; };
  }, [cid]);
  if (!status) return <p className="muted">…</p>;
  return (
    <p id="live-state" data-state={status.state}>
      {status.state}{status.error ? `: ${status.error}` : ""}
      {status.state === "ok" && <> · <a href={`#/runs/${encodeURIComponent(cid)}`}>play it back</a></>}
    </p>
  );
}

function Agents() {
  const agents = useRemoteParticipants();
  const tracks = useTracks([Track.Source.Microphone]).filter((t): t is TrackReference => t.publication !== undefined);
  return (
    <div className="agents">
      {agents.map((p) => (
        <Agent key={p.identity} participant={p} trackRef={tracks.find((t) => t.participant.identity === p.identity)} />
      ))}
    </div>
  );
}

function Agent({ participant, trackRef }: { participant: RemoteParticipant; trackRef?: TrackReference }) {
  const { attributes } = useParticipantAttributes({ participant });
  const state = (attributes?.["lk.agent.state"] ?? "connecting") as AgentState;
  const volume = useTrackVolume(trackRef);
  const peak = useRef(0); // the loudest it has been, for the test and the eye
  peak.current = Math.max(peak.current, volume);
  return (
    <div className="agent" data-identity={participant.identity} data-peak={peak.current.toFixed(4)}>
      <div className="agent-head"><b>{participant.name || participant.identity}</b> <span className="agent-state">{state}</span></div>
      <BarVisualizer state={state} trackRef={trackRef} barCount={9} options={{ minHeight: 6 }} />
    </div>
  );
}

function Transcript() {
  const lines = useTranscriptions();
  const names = Object.fromEntries(useRemoteParticipants().map((p) => [p.identity, p.name || p.identity]));
  return (
    <ol id="live-transcript">
      {lines.map((t) => (
        <li key={t.streamInfo.id}><b>{names[t.participantInfo.identity] ?? t.participantInfo.identity}</b> {t.text}</li>
      ))}
    </ol>
  );
}
