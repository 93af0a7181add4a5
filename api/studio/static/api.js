// The API as the pages use it: the token kept in this browser, JSON calls that unwrap the envelope, and errors
// that carry the API's own message (never raw JSON) for the page to show.

const TOKEN_KEY = "reelforge.token";
const CLIENT_KEY = "reelforge.client";
export const SKILL = { "X-Skill-Source": "reelforge-studio", "X-Skill-Version": "1", "X-Skill-Platform": "web" };

export class ApiError extends Error {
  constructor(message, code = 0, status = 0, data = null) {
    super(message);
    this.code = code;
    this.status = status;
    this.data = data;
  }
}

// The page's error banner (both pages have one): a message in words, and its dismissal.
export function showError(error) {
  document.getElementById("error-text").textContent = error instanceof Error ? error.message : String(error);
  document.getElementById("error-banner").hidden = false;
}

export function clearError() {
  document.getElementById("error-banner").hidden = true;
  document.getElementById("error-text").textContent = "";
}

function randomId() {
  // crypto.randomUUID needs a secure context; a server reached over plain http on the LAN is not one.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function clientId() {
  let id = localStorage.getItem(CLIENT_KEY);
  if (!id) {
    id = randomId();
    localStorage.setItem(CLIENT_KEY, id);
  }
  return id;
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

// What an error answer says, in words: the envelope's message, else the HTTP status.
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page, a dropped connection): say what happened without showing it
  }
  const message = (body && typeof body.message === "string" && body.message)
    || (body && typeof body.detail === "string" && body.detail)
    || `The server answered ${response.status} ${response.statusText || ""}`.trim();
  return new ApiError(message, body?.code ?? response.status, response.status, body?.data ?? null);
}

export function authHeaders(extra = {}) {
  const value = token.get();
  return value ? { Authorization: `Bearer ${value}`, ...extra } : { ...extra };
}

// A call that answers the envelope's `data` (or the whole body when it has none), or throws an ApiError.
export async function call(method, path, { json, body, headers = {}, raw = false } = {}) {
  const init = { method, headers: authHeaders(headers) };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("Cannot reach the server: check that reelforge is running and try again.");
  }
  if (!response.ok) throw await errorOf(response);
  if (raw) return response;
  const data = await response.json();
  if (typeof data?.code === "number" && data.code !== 0) {
    throw new ApiError(data.message || `error ${data.code}`, data.code, response.status, data.data);
  }
  return data && "data" in data && !("status" in data && "output" in data) ? data.data : data;
}

// A token for this browser: the one kept here while the server still takes it, else a new anonymous one.
export async function ensureToken() {
  if (token.get()) {
    try {
      return await call("GET", "/api/credits/balance/simple");
    } catch (err) {
      if (err.code !== 1001) throw err;
      // expired or unknown here: ask again with the same client id (the same user comes back after expiry)
    }
  }
  const issued = await call("POST", "/api/auth/anonymous-token", { headers: { "X-Client-Id": clientId() } });
  token.set(issued.token);
  return call("GET", "/api/credits/balance/simple");
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function bytes(n) {
  if (n == null || Number.isNaN(Number(n))) return "–";
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

export function seconds(s) {
  if (s == null || Number.isNaN(Number(s))) return "–";
  const n = Number(s);
  return n >= 60 ? `${Math.floor(n / 60)} min ${(n % 60).toFixed(1)} s` : `${n.toFixed(n < 10 ? 2 : 1)} s`;
}

export function when(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

// Build an element: el("li", {class: "x", dataset: {testid: "y"}}, "text", child)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "class") node.className = value;
    // through the CSSOM: the pages' Content-Security-Policy refuses style attributes
    else if (key === "style") for (const [prop, v] of Object.entries(value)) node.style.setProperty(prop, v);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
