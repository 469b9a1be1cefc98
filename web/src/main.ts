// Hash routes, so the server only ever serves one page: #/ runs (and the form that starts a
// conversation), #/runs/RUN conversations (?scenario=&status=), #/runs/RUN/ID one conversation in
// the player, #/live/ID a conversation started with POST /api/v1/conversations, live in its room.
import "./style.css";
import { get, signIn, Unauthorized, type ConversationRow, type RunRow } from "./api";
import { h, table } from "./dom";
import { showConversation } from "./player";
import { startPanel } from "./start";

const app = document.getElementById("app")!;
const crumbs = document.getElementById("crumbs")!;
let leave: (() => void) | null = null; // the player's clean-up when the route changes

async function route(): Promise<void> {
  leave?.();
  leave = null;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  app.replaceChildren(h("p", { class: "muted" }, "loading…"));
  try {
    if (parts[0] === "live" && parts.length === 2) {
      setCrumbs(parts[1]);
      const { showLive } = await import("./live"); // React and livekit-client only for this page
      leave = await showLive(app, parts[1]);
    } else if (parts[0] === "runs" && parts.length === 3) {
      setCrumbs(parts[1], parts[2]);
      leave = await showConversation(app, parts[1], parts[2]);
    } else if (parts[0] === "runs" && parts.length === 2) {
      setCrumbs(parts[1]);
      await showRun(parts[1], new URLSearchParams(query ?? ""));
    } else {
      setCrumbs();
      leave = await showRuns();
    }
  } catch (e) {
    app.replaceChildren(e instanceof Unauthorized ? tokenForm() : h("p", { class: "error" }, String((e as Error).message)));
  }
}

function setCrumbs(run?: string, cid?: string): void {
  const items: Node[] = [];
  if (run) items.push(document.createTextNode(" / "), h("a", { href: `#/runs/${enc(run)}` }, run));
  if (cid) items.push(document.createTextNode(" / "), h("span", {}, cid));
  crumbs.replaceChildren(...items);
}

async function showRuns(): Promise<() => void> {
  const [{ runs }, start] = await Promise.all([get<{ runs: RunRow[] }>("/runs"), startPanel()]);
  app.replaceChildren(
    start.el,
    h("h1", {}, "Runs"),
    runs.length
      ? table(["run", "state", "conversations", "ok", "failed", "engine", "transport", "started"],
          runs.map((r) => [h("a", { href: `#/runs/${enc(r.id)}` }, r.id), r.state, String(r.planned),
            String(r.by_status.ok ?? 0), String(r.by_status.failed ?? 0), r.engine ?? "", r.transport ?? "",
            r.started_at ?? ""]), "runs")
      : h("p", { class: "muted" }, "No runs in this folder yet: `synthconv generate --out` one here."),
  );
  return start.leave;
}

async function showRun(run: string, filters: URLSearchParams): Promise<void> {
  const [all, shown] = await Promise.all([
    get<{ conversations: ConversationRow[] }>(`/runs/${enc(run)}/conversations`),
    get<{ conversations: ConversationRow[] }>(`/runs/${enc(run)}/conversations?${filters}`),
  ]);
  const select = (name: string, values: string[]) => {
    const s = h("select", { name, id: `filter-${name}` },
      h("option", { value: "" }, `every ${name}`),
      ...[...new Set(values)].sort().map((v) => h("option", { value: v }, v))) as HTMLSelectElement;
    s.value = filters.get(name) ?? "";
    s.onchange = () => {
      if (s.value) filters.set(name, s.value); else filters.delete(name);
      location.hash = `#/runs/${enc(run)}?${filters}`;
    };
    return s;
  };
  const rows = shown.conversations;
  app.replaceChildren(
    h("h1", {}, run),
    h("div", { class: "filters" },
      select("scenario", all.conversations.map((c) => c.scenario)),
      select("status", all.conversations.map((c) => c.status)),
      h("span", { class: "muted" }, `${rows.length} of ${all.conversations.length}`)),
    table(["conversation", "status", "scenario", "roles", "duration", "turns", "error"],
      rows.map((c) => [h("a", { href: `#/runs/${enc(run)}/${enc(c.id)}` }, c.id), c.status, c.scenario,
        Object.entries(c.roles).map(([r, p]) => `${r}=${p}`).join(", "),
        c.duration_s == null ? "" : `${c.duration_s.toFixed(1)} s`, String(c.turns ?? ""), c.error ?? ""]),
      "conversations"),
  );
}

function tokenForm(): HTMLElement {
  const input = h("input", { type: "password", placeholder: "API token", id: "token" }) as HTMLInputElement;
  const wrong = h("p", { class: "error", id: "token-error" });
  const form = h("form", { id: "token-form" }, h("p", {}, "This server wants the --api-token it was started with."),
    input, h("button", { type: "submit" }, "Use token"), wrong);
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (await signIn(input.value)) void route();
    else wrong.textContent = "that is not this server's token";
  };
  return form;
}

export const enc = encodeURIComponent;
window.addEventListener("hashchange", () => void route());
void route();
