// Start a conversation from the runs page: a form that posts to POST /api/v1/conversations and
// lands on the live page, and the conversations this server started (running ones first).
// Without LiveKit the form is shown disabled, with the one-line reason the server gives.
import { get, post, type Choices, type LiveList, type Started } from "./api";
import { h, table } from "./dom";

const enc = encodeURIComponent;

export async function startPanel(): Promise<{ el: HTMLElement; leave: () => void }> {
  const list = await get<LiveList>("/conversations");
  const choices = list.enabled ? await get<Choices>("/scenarios") : null;
  const scenario = h("select", { id: "start-scenario", name: "scenario" },
    ...(choices?.scenarios ?? []).map((s) => h("option", { value: s.id }, `${s.title} (${s.id})`))) as HTMLSelectElement;
  const personas = h("span", { id: "start-personas" });
  const engine = h("select", { id: "start-engine", name: "engine" },
    ...(choices?.engines ?? ["offline"]).map((e) => h("option", { value: e }, e))) as HTMLSelectElement;
  const turnTaking = h("select", { id: "start-turn-taking", name: "turn_taking" },
    ...(choices?.turn_taking ?? ["natural"]).map((t) => h("option", { value: t }, t))) as HTMLSelectElement;
  const error = h("p", { class: "error", id: "start-error" });
  const button = h("button", { type: "submit" }, "Generate conversation") as HTMLButtonElement;

  const showPersonas = () => { // one choice per role of the scenario: a persona file, or drawn
    const chosen = choices?.scenarios.find((s) => s.id === scenario.value);
    personas.replaceChildren(...(chosen?.roles ?? []).map((r) => h("label", {}, `${r.label} `,
      h("select", { name: `persona-${r.key}`, "data-role": r.key },
        h("option", { value: "" }, "drawn"), ...r.personas.map((p) => h("option", { value: p.id }, `${p.name}`))))));
  };
  scenario.onchange = showPersonas;
  showPersonas();

  const fields = h("fieldset", {},
    h("label", {}, "scenario ", scenario), personas,
    h("label", {}, "engine ", engine), h("label", {}, "turn-taking ", turnTaking), button) as HTMLFieldSetElement;
  fields.disabled = !list.enabled;
  const form = h("form", { id: "start" }, fields, error) as HTMLFormElement;
  form.onsubmit = async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const chosen: Record<string, string> = {};
    for (const s of personas.querySelectorAll<HTMLSelectElement>("select")) if (s.value) chosen[s.dataset.role!] = s.value;
    try {
      const started = await post<Started>("/conversations", {
        scenario: scenario.value, personas: chosen, engine: engine.value, turn_taking: turnTaking.value,
      });
      location.hash = `#/live/${enc(started.id)}`;
    } catch (err) {
      error.textContent = (err as Error).message;
      button.disabled = false;
    }
  };

  const running = h("div", { id: "live-list" });
  const show = (l: LiveList) => {
    const rows = [...l.conversations].reverse().sort((a, b) => Number(b.state === "running") - Number(a.state === "running"));
    running.replaceChildren(...(rows.length ? [table(["conversation", "scenario", "engine", "turn-taking", "state", "started"],
      rows.map((c) => [c.state === "running" ? h("a", { href: `#/live/${enc(c.id)}` }, c.id)
        : h("a", { href: `#/runs/${enc(c.id)}` }, c.id), c.scenario, c.engine, c.turn_taking, c.state, c.started_at]),
      "live-conversations")] : []));
  };
  show(list);
  let timer = 0;
  const poll = async () => {
    try { show(await get<LiveList>("/conversations")); } catch { /* shown again next time */ }
    timer = window.setTimeout(poll, 3000);
  };
  if (list.enabled) timer = window.setTimeout(poll, 3000);

  const el = h("section", { class: "start" }, h("h2", {}, "Start a conversation"),
    list.enabled ? h("p", { class: "muted" }, `Two agents talk in a LiveKit room; at most ${list.max_running} at once.`)
      : h("p", { class: "muted", id: "start-disabled" }, list.reason ?? "this server cannot start conversations"),
    form, running);
  return { el, leave: () => window.clearTimeout(timer) };
}
