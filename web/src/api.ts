// The one way the pages reach the server: same-origin JSON under /api/v1 (the shapes are the
// server's pydantic models, synthconv/serve/models.py; /api/openapi.json describes them).
// A server bound beyond loopback wants its --api-token; the page hands it to POST /api/v1/session,
// which keeps it in an HttpOnly, SameSite=Strict cookie that the browser sends with every API,
// <audio> and waveform request and no script can read (no key or secret ever comes back).

export const API = "/api/v1";

export class Unauthorized extends Error {}

async function answer<T>(res: Response): Promise<T> {
  if (res.status === 401) throw new Unauthorized("this server wants its API token");
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`);
  }
  return res.json() as Promise<T>;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(API + path));
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  return answer<T>(await fetch(API + path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

/** Give the server the token once; false when it is not the server's. */
export async function signIn(token: string): Promise<boolean> {
  const res = await fetch(`${API}/session`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  return res.ok;
}

export interface RunRow {
  id: string; state: string; planned: number; by_status: Record<string, number>;
  started_at: string | null; engine: string | null; transport: string | null; error: string | null;
}
export interface ConversationRow {
  id: string; status: string; scenario: string; roles: Record<string, string>;
  duration_s: number | null; turns: number | null; error: string | null;
}
export interface Turn {
  turn: number; role: string; speaker: string; text: string; start: number; end: number;
  interrupted: boolean; heard: string | null;
}
export interface Conversation extends ConversationRow {
  meta: Record<string, any> | null; transcript: Turn[]; problems: string[] | null;
  audio: { mix: string | null; tracks: Record<string, string> };
}

// conversations started over the API (LiveKit)
export interface LiveRow {
  id: string; scenario: string; engine: string; turn_taking: string; started_at: string;
  state: "running" | "ok" | "failed";
}
export interface LiveList { enabled: boolean; reason: string | null; max_running: number; conversations: LiveRow[] }
export interface PersonaChoice { id: string; name: string }
export interface RoleChoice { key: string; label: string; personas: PersonaChoice[] }
export interface ScenarioChoice { id: string; title: string; language: string; roles: RoleChoice[] }
export interface Choices { scenarios: ScenarioChoice[]; engines: string[]; turn_taking: string[] }
export interface NewConversation {
  scenario: string; personas: Record<string, string>; engine: string; turn_taking: string;
}
export interface ObserverAccess { room: string; livekit_url: string; observer_token: string }
export interface Started extends ObserverAccess {
  id: string; token_ttl_s: number; status: string; run: string; page: string;
}
export interface Status {
  id: string; room: string; scenario: string; state: "dispatching" | "live" | "recording" | "ok" | "failed";
  conversation: string | null; participants: { identity: string; role: string; name: string; state: string | null }[];
  turns: Turn[]; error: string | null;
}
