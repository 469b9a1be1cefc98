// One finished conversation: both tracks as waveforms on one timeline (wavesurfer.js, the turns
// as regions), the mix playing in an <audio> element that is the one clock everything follows.
import WaveSurfer from "wavesurfer.js";
import RegionsPlugin, { type Region } from "wavesurfer.js/dist/plugins/regions.esm.js";
import { get, type Conversation, type Turn } from "./api";
import { h } from "./dom";

const COLORS = ["59, 130, 246", "234, 88, 12", "22, 163, 74", "147, 51, 234"];
const enc = encodeURIComponent;

export async function showConversation(app: HTMLElement, run: string, cid: string): Promise<() => void> {
  const url = `/runs/${enc(run)}/conversations/${enc(cid)}`;
  const c = await get<Conversation>(`${url}?validate=false`); // the check decodes the mix: it follows
  const meta: Record<string, any> = c.meta ?? {}; // meta.json passes through as an object (FORMAT.md)
  const personas: Record<string, any> = meta.personas ?? {};
  const roles = Object.keys(c.audio.tracks).length ? Object.keys(c.audio.tracks) : Object.keys(c.roles);
  const color = (role: string, alpha: number) => `rgba(${COLORS[roles.indexOf(role) % COLORS.length]}, ${alpha})`;

  const facts: [string, string][] = [
    ["status", c.status], ["scenario", meta.scenario?.title ? `${meta.scenario.title} (${c.scenario})` : c.scenario],
    ...roles.map((r): [string, string] => [r, personas[r]?.name ? `${personas[r].name} (${c.roles[r]})` : c.roles[r]]),
    ["engine", meta.engine ?? ""], ["transport", meta.transport ?? ""], ["timing", meta.timing ?? ""],
    ["duration", c.duration_s == null ? "" : `${c.duration_s.toFixed(2)} s`], ["turns", String(c.turns ?? "")],
    ["seed", String(meta.seed ?? "")],
  ];
  const problems = c.status !== "ok"
    ? h("p", { class: "error", id: "problems" }, c.error ?? c.status)
    : h("p", { class: "muted", id: "problems" }, "checking against docs/FORMAT.md…");
  if (c.status === "ok") {
    void get<Conversation>(url).then((full) => problems.replaceWith(full.problems!.length
      ? h("ul", { class: "error", id: "problems" }, ...full.problems!.map((p) => h("li", {}, p)))
      : h("p", { class: "ok", id: "problems" }, "valid against docs/FORMAT.md")),
    (e) => problems.replaceWith(h("p", { class: "error", id: "problems" }, `cannot check: ${e.message}`)));
  }
  app.replaceChildren(
    h("h1", {}, c.id),
    h("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    problems,
  );
  if (!c.audio.mix) return () => {};

  const mix = h("audio", { id: "mix", controls: "", preload: "auto", src: c.audio.mix }) as HTMLAudioElement;
  const items = new Map<number, HTMLElement>();
  const regions = new Map<number, { region: Region; role: string }>();
  const waves: WaveSurfer[] = [];
  const seek = (t: number) => { mix.currentTime = t; follow(); };

  const lanes = roles.map((role) => {
    const lane = h("div", { class: "lane" });
    const ws = WaveSurfer.create({
      container: lane, url: c.audio.tracks[role], height: 64, normalize: true,
      media: Object.assign(document.createElement("audio"), { muted: true }),
      waveColor: color(role, 0.9), progressColor: color(role, 0.5), cursorColor: "#111", cursorWidth: 2,
    });
    const plugin = ws.registerPlugin(RegionsPlugin.create());
    ws.on("decode", () => {
      for (const t of c.transcript.filter((t) => t.role === role)) {
        const region = plugin.addRegion({ id: `turn-${t.turn}`, start: t.start, end: t.end, color: color(role, 0.12),
          drag: false, resize: false, content: String(t.turn) });
        regions.set(t.turn, { region, role });
      }
      follow();
    });
    plugin.on("region-clicked", (region, e) => { e.stopPropagation(); seek(region.start); });
    ws.on("interaction", (t) => seek(t));
    waves.push(ws);
    return h("div", { class: "track" }, h("div", { class: "role", style: `color: ${color(role, 1)}` }, role), lane);
  });

  const transcript = h("ol", { id: "transcript" }, ...c.transcript.map((t: Turn) => {
    const heard = t.heard != null && t.heard !== t.text ? h("div", { class: "heard" }, `heard: ${t.heard}`) : "";
    const li = h("li", { class: "turn", "data-turn": String(t.turn), "data-start": String(t.start) },
      h("span", { class: "when" }, `${t.start.toFixed(2)}–${t.end.toFixed(2)}`),
      h("b", { style: `color: ${color(t.role, 1)}` }, t.speaker), " ", t.text, heard);
    li.onclick = () => seek(t.start);
    items.set(t.turn, li);
    return li;
  }));

  let current: number | null = null;
  function follow(): void {
    const now = mix.currentTime;
    for (const ws of waves) ws.setTime(now);
    const turn = c.transcript.filter((t) => t.start <= now + 1e-3 && now < t.end).at(-1)?.turn ?? null;
    if (turn === current) return;
    for (const [n, on] of [[current, false], [turn, true]] as [number | null, boolean][]) {
      if (n == null) continue;
      items.get(n)?.classList.toggle("current", on);
      const r = regions.get(n);
      r?.region.setOptions({ color: color(r.role, on ? 0.4 : 0.12) });
    }
    current = turn;
    if (turn != null) items.get(turn)?.scrollIntoView({ block: "nearest" });
  }
  let frame = 0;
  const tick = () => { follow(); frame = requestAnimationFrame(tick); };
  mix.addEventListener("play", () => { cancelAnimationFrame(frame); tick(); });
  mix.addEventListener("pause", () => cancelAnimationFrame(frame));
  mix.addEventListener("seeked", follow);

  app.append(
    h("div", { class: "player" }, mix, ...lanes),
    transcript,
    h("details", {}, h("summary", {}, "meta.json"), h("pre", {}, JSON.stringify(meta, null, 2))),
  );
  return () => { cancelAnimationFrame(frame); mix.pause(); for (const ws of waves) ws.destroy(); };
}
