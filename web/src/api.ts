// The one way the pages reach the server: same-origin JSON under /api/v1.
// A server bound beyond loopback wants its --api-token; the page keeps it in a cookie, which the
// browser also sends with the <audio> and waveform requests (no key or secret ever comes back).

export const API = "/api/v1";

export class Unauthorized extends Error {}

export async function get<T>(path: string): Promise<T> {
  const res = await fetch(API + path);
  if (res.status === 401) throw new Unauthorized("this server wants its API token");
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.detail ?? `${res.status} ${res.statusText}`);
  }
  return res.json() as Promise<T>;
}

export function setToken(token: string): void {
  document.cookie = `synthconv_token=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
}

export interface RunRow {
  id: string; state: string; planned: number; by_status: Record<string, number>;
  started_at: string | null; engine: string | null; transport: string | null;
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
