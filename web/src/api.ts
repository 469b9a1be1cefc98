// The one way the pages reach the server: same-origin JSON under /api/v1 (the shapes are the
// server's pydantic models, synthconv/serve/models.py; /api/openapi.json describes them).
// A server bound beyond loopback wants its --api-token; the page hands it to POST /api/v1/session,
// which keeps it in an HttpOnly, SameSite=Strict cookie that the browser sends with every API,
// <audio> and waveform request and no script can read (no key or secret ever comes back).

import type { components } from "./generated/api";

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

// The shapes, generated from the server's OpenAPI schema by `make web` (openapi-typescript):
// change them in synthconv/serve/models.py (or the run folder records, runfolder/schema.py).
type Schemas = components["schemas"];
export type RunRow = Schemas["RunRow"];
export type ConversationRow = Schemas["ConversationRow"];
export type Turn = Schemas["TranscriptLine"];
export type Conversation = Schemas["Conversation"];
export type LiveRow = Schemas["LiveRow"];
export type LiveList = Schemas["LiveList"];
export type PersonaChoice = Schemas["PersonaChoice"];
export type RoleChoice = Schemas["RoleChoice"];
export type ScenarioChoice = Schemas["ScenarioChoice"];
export type Choices = Schemas["Choices"];
export type NewConversation = Schemas["NewConversation"];
export type ObserverAccess = Schemas["ObserverAccess"];
export type Started = Schemas["Started"];
export type Status = Schemas["Status"];
