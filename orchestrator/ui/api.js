// The /v1 API as the page uses it: JSON calls, the API key (asked once, kept for the session), SSE.

const KEY_STORE = "remgo.apiKey";
let apiKey = sessionStorage.getItem(KEY_STORE) || "";
let asking = null; // one key prompt at a time, however many calls got a 401
let session = apiKey ? startSession() : null;

// EventSource and WebSocket cannot send the key in a header: the server keeps it in an HttpOnly cookie
// they send by themselves (SameSite=Strict). Only image URLs may carry it as ?api_key=.
function startSession() {
  return fetch("/v1/session", { method: "POST", headers: { Authorization: `Bearer ${apiKey}` } }).catch(() => {});
}

// Seeds go up to 2^63 - 1 and a JS number is exact only to 2^53: integers beyond that are read as BigInt and
// written back as JSON integers with every digit. One tokenizer pass rather than JSON.parse's source-text
// reviver, so it works the same in every browser.
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

// A marker no string of `text` holds: marked strings are exactly the ones this code wrote.
function freshMark(text) {
  for (;;) {
    const mark = `bigint${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}:`;
    if (!text.includes(mark)) return mark;
  }
}

export function parseJSON(text) {
  if (!/\d{16}/.test(text)) return JSON.parse(text); // no integer can be past 2^53
  let mark = null;
  const marked = text.replace(TOKENS, (token) => {
    if (token[0] === '"' || !/^-?\d+$/.test(token) || Number.isSafeInteger(Number(token))) return token;
    mark ??= freshMark(text);
    return `"${mark}${token}"`;
  });
  if (mark === null) return JSON.parse(text);
  return JSON.parse(marked, (key, value) => (typeof value === "string" && value.startsWith(mark)
    ? BigInt(value.slice(mark.length)) : value));
}

export function toJSON(value) {
  let mark = null;
  const text = JSON.stringify(value, (key, v) => {
    if (typeof v !== "bigint") return v;
    mark ??= freshMark(JSON.stringify(value, (k, w) => (typeof w === "bigint" ? "" : w)));
    return `${mark}${v}`;
  });
  return mark === null ? text : text.replaceAll(new RegExp(`"${mark}(-?\\d+)"`, "g"), "$1");
}

export class ApiError extends Error {
  constructor(status, message, field = null, suggestions = []) {
    super(message);
    this.status = status;
    this.field = field;
    this.suggestions = suggestions || [];
  }
}

function headers(extra = {}) {
  return apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra;
}

function askKey(rejected) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const error = document.getElementById("key-error");
  error.hidden = !rejected;
  error.textContent = rejected ? "That key was refused; try again." : "";
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      apiKey = input.value.trim();
      sessionStorage.setItem(KEY_STORE, apiKey);
      asking = null;
      session = startSession();
      session.then(resolve);
    }, { once: true });
  });
  dialog.showModal();
  input.focus();
  return asking;
}

// fetch with the key; a 401 asks for a key and tries again. Returns the Response. A Blob body goes as it is,
// with its own type (an image file); anything else as JSON.
export async function send(method, path, body) {
  const raw = body instanceof Blob;
  for (let attempt = 0; ; attempt++) {
    const type = raw ? body.type || "application/octet-stream" : "application/json";
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": type }) };
    if (body !== undefined) init.body = raw ? body : toJSON(body);
    const response = await fetch(path, init);
    if (response.status !== 401) return response;
    await askKey(attempt > 0 || apiKey !== "");
  }
}

async function failure(response) {
  let detail = {};
  try {
    detail = parseJSON(await response.text()).error || {};
  } catch {
    detail = { message: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, detail.message || `HTTP ${response.status}`, detail.field, detail.suggestions);
}

export async function api(method, path, body) {
  const response = await send(method, path, body);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : parseJSON(await response.text());
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

// An image file (or a canvas's PNG) kept by the server: {upload_id, width, height, format, bytes}.
export const upload = (blob) => api("POST", "/v1/uploads", blob);

// A POST answered with a file (ZIP export): the Blob and the name the server suggests.
export async function postForFile(path, body) {
  const response = await send("POST", path, body);
  if (!response.ok) throw await failure(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "download";
  return { blob: await response.blob(), name };
}

// URLs the browser loads by itself (img, EventSource) cannot carry a header: the key rides in the query.
export function withKey(url) {
  if (!apiKey) return url;
  return `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(apiKey)}`;
}

export const fileUrl = (historyId) => withKey(`/v1/history/${encodeURIComponent(historyId)}/file`);
export const thumbUrl = (historyId) => withKey(`/v1/history/${encodeURIComponent(historyId)}/thumb`);

// An image of a job: by its history id (works with keys on), else the outputs URL.
export function imageUrl(image) {
  return image.history_id != null ? fileUrl(image.history_id) : withKey(image.url);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// An EventSource once the session cookie (with API keys on) is set: the key rides in it.
export async function eventSource(path) {
  await (session || Promise.resolve());
  return new EventSource(path);
}
