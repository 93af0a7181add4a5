// The studio page: sessions, uploads, chat over /run_sse, the draft as a timeline, preview, export, renders.
// Plain ES modules, no build step; every request goes to this server's own API (docs/studio.md).

import {
  ApiError, SKILL, authHeaders, bytes, call, clearError, el, ensureToken, errorOf, seconds, showError, sleep, token,
  when,
} from "./api.js";
import { drawTimeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "reelforge.session";
const POLL_MS = 250;
const IMAGE_FORMATS = new Set(["gif", "webp"]);

const state = {
  sessionId: null,
  draft: null,
  infos: [],
  summary: "",
  userId: null,
  askedFormat: undefined,
  busy: false,
  previewRun: 0,     // the newest preview; older polls stop when it changes
};

// ---------------------------------------------------------------- errors, in words


// Run an action of the page; anything it throws becomes the banner's message.
function guard(action) {
  return async (...args) => {
    try {
      return await action(...args);
    } catch (err) {
      showError(err);
      return undefined;
    }
  };
}

// ---------------------------------------------------------------- token, credits, sessions

async function showCredits() {
  const balance = await call("GET", "/api/credits/balance/simple");
  $("credits").textContent = `${balance.available} credits`;
}

function showWho(userId, how) {
  $("token-status").textContent = `${how}${userId ? ` as ${userId}` : ""}`;
  $("token-status").dataset.state = "ready";
}

// A claim link (?ct=…) or the legacy link (?token=&task=&session=): its secret leaves the address bar first,
// then it becomes this browser's token. Answers the session to open, or null.
async function takeClaim() {
  const url = new URL(window.location.href);
  if (url.pathname !== "/workspace/claim") return null;
  const claim = url.searchParams.get("ct");
  const legacy = url.searchParams.get("token");
  const legacySession = url.searchParams.get("session");
  window.history.replaceState(null, "", "/");
  if (claim) {
    const got = await call("POST", "/api/auth/claim-exchange", { json: { claim_token: claim } });
    token.set(got.token);
    return { sessionId: got.session_id, how: "Opened from a claim link" };
  }
  if (legacy) {
    token.set(legacy);
    return { sessionId: legacySession, how: "Opened from a link" };
  }
  throw new ApiError("This claim link has no claim in it (?ct=…): ask for a new link.");
}

async function listSessions() {
  try {
    return (await call("GET", "/api/sessions")).sessions || [];
  } catch (err) {
    showError(new ApiError(`Cannot list your sessions: ${err.message}`));
    return state.sessionId ? [{ session_id: state.sessionId, title: "This session" }] : [];
  }
}

function drawSessions(sessions) {
  const list = $("session-list");
  list.replaceChildren(...sessions.map((s) => {
    const open = s.session_id === state.sessionId;
    const counts = [s.uploads != null && `${s.uploads} upload${s.uploads === 1 ? "" : "s"}`,
      s.renders != null && `${s.renders} render${s.renders === 1 ? "" : "s"}`].filter(Boolean).join(" · ");
    return el("li", { testid: "session-item", dataset: { sessionId: s.session_id }, class: open ? "open" : "" },
      el("button", { type: "button", "aria-current": open ? "true" : null, onclick: guard(() => openSession(s.session_id)) },
        el("span", { class: "title" }, s.title || "Untitled"),
        el("span", { class: "muted" }, [counts, when(s.updated_at || s.created_at)].filter(Boolean).join(" · "))));
  }));
  if (!sessions.length) list.append(el("li", { class: "muted" }, "No sessions yet."));
}

async function refreshSessions() {
  drawSessions(await listSessions());
}

async function newSession() {
  const made = await call("POST", "/api/tasks/me/with-session/nemo_agent",
    { json: { task_name: "project", language: (navigator.language || "en").split("-")[0] } });
  await openSession(made.session_id);
  await refreshSessions();
}

async function openSession(sessionId) {
  state.sessionId = sessionId;
  localStorage.setItem(SESSION_KEY, sessionId);
  $("session").dataset.sessionId = sessionId;
  for (const item of document.querySelectorAll("[data-testid=session-item]")) {
    const open = item.dataset.sessionId === sessionId;
    item.classList.toggle("open", open);
    item.querySelector("button")?.setAttribute("aria-current", open ? "true" : "false");
  }
  $("chat-log").replaceChildren();
  $("export-result").hidden = true;
  $("export-progress").value = 0;
  $("export-status").textContent = "";
  state.askedFormat = undefined;     // this session's own format choice picks the export's
  state.previewRun += 1;             // an earlier session's preview stops being followed
  $("preview-player").hidden = true;
  $("preview-player").removeAttribute("src");
  $("preview-status").textContent = "";
  $("uploads").replaceChildren();
  await Promise.all([refreshState(), refreshRenders(), loadHistory()]);
  await refreshMedia();
}

// ---------------------------------------------------------------- state and timeline

async function refreshState() {
  const got = await call("GET", `/api/state/nemo_agent/me/${state.sessionId}/latest`);
  state.draft = got.state?.draft || {};
  state.infos = got.state?.video_infos || [];
  state.summary = got.summary || "";
  state.userId = got.user_id || state.userId;
  redraw();
}

function redraw() {
  // the format the chat asked for ("make it a GIF") becomes the export's, until the person picks another
  const asked = state.draft?.m?.out?.format;
  if (asked && asked !== state.askedFormat && [...$("export-format").options].some((o) => o.value === asked)) {
    $("export-format").value = asked;
  }
  state.askedFormat = asked;
  const total = drawTimeline($("timeline"), $("timeline-summary"), state.draft, state.infos, state.summary);
  const playhead = $("playhead");
  playhead.max = String(total);
  if (Number(playhead.value) > total) playhead.value = "0";
  showPlayhead();
}

function showPlayhead() {
  const at = Number($("playhead").value);
  $("playhead-at").textContent = `${(at / 1000).toFixed(1)} s`;
  const max = Number($("playhead").max) || 1;
  $("timeline").style.setProperty("--playhead-frac", String(at / max));
}

// ---------------------------------------------------------------- media: uploads and the list

function uploadOne(file) {
  const progress = el("progress", { testid: "upload-progress", max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
  const status = el("span", { class: "muted" }, "uploading…");
  const item = el("li", { class: "upload" }, el("span", { class: "name" }, file.name), progress, status);
  $("uploads").append(item);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();     // fetch cannot report upload progress
    xhr.open("POST", `/api/upload-video/nemo_agent/me/${state.sessionId}`);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    const fail = (message) => {
      status.replaceWith(el("span", { testid: "upload-error", class: "error" }, message));
      item.classList.add("failed");
      showError(new ApiError(message));
      resolve(false);
    };
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: said in words below
      }
      if (xhr.status >= 200 && xhr.status < 300 && body?.code === 0) {
        progress.value = 100;
        status.textContent = "added";
        item.classList.add("done");
        resolve(true);
      } else {
        fail(body?.message || `The server answered ${xhr.status}`);
      }
    });
    xhr.addEventListener("error", () => fail("The upload did not reach the server: check the connection."));
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

async function upload(files) {
  if (!files.length) return;
  clearError();
  // One request per file: the API refuses a whole request for one bad file, and each file has its own bar.
  const done = await Promise.all([...files].map(uploadOne));
  if (done.some(Boolean)) await Promise.all([refreshState(), refreshMedia(), refreshSessions()]);
}

async function mediaFiles() {
  try {
    return (await call("GET", `/api/sessions/${state.sessionId}/uploads`)).files || [];
  } catch (err) {
    if (err.status !== 404 || err.code !== 404) throw err;
    return state.infos;     // a server without the listing: the state's own list of uploads, without thumbnails
  }
}

async function refreshMedia() {
  const files = await mediaFiles();
  const items = files.map((f) => {
    const kind = f.file_type || f.kind || "";
    const thumb = f.thumbnail_url;     // signed: an <img> loads it without the token
    const name = f.filename || f.name || "file";
    const shape = f.width && f.height ? `${f.width}×${f.height}` : "";
    return el("li", { testid: "media-item", class: `kind-${kind}`, title: name },
      thumb ? el("img", { src: thumb, alt: "", width: 96, height: 54 })
        : el("span", { class: "thumb", "aria-hidden": "true" }, kind === "audio" ? "♪" : "▶"),
      el("span", { class: "name" }, name),
      el("span", { class: "meta" },
        el("span", { testid: "media-duration" }, f.duration ? seconds(f.duration) : kind === "image" ? "still" : "–"),
        " · ", el("span", { testid: "media-size" }, bytes(f.size)),
        shape ? ` · ${shape}` : ""));
  });
  $("media-list").replaceChildren(...items);
}

// ---------------------------------------------------------------- chat over /run_sse

function addLine(testid, text, cls = "") {
  const line = el("li", { testid, class: cls }, text);
  $("chat-log").append(line);
  line.scrollIntoView({ block: "nearest" });
  return line;
}

function toolLine(call_) {
  const args = { ...(call_.args || {}) };
  const op = args.operation || call_.name;
  delete args.operation;
  const detail = Object.entries(args).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ");
  const short = detail.length > 80 ? `${detail.slice(0, 79)}…` : detail;
  const line = addLine("chat-tool", `⚙ ${op}${short ? ` (${short})` : ""}`, "tool");
  line.dataset.callId = call_.id || "";
  return line;
}

// Server-sent events from a fetch body: "data:" lines make an event, a blank line ends it, ":" lines are comments.
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = done ? "" : lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length && data.join("").trim()) yield data.join("\n");
        data = [];
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
    }
    if (done) {
      if (data.length && data.join("").trim()) yield data.join("\n");
      return;
    }
  }
}

async function chat(text) {
  text = text.trim();
  if (!text || state.busy) return;
  clearError();
  state.busy = true;
  $("chat-send").disabled = true;
  $("chat-undo").disabled = true;
  $("chat-log").setAttribute("aria-busy", "true");
  addLine("chat-user", text, "user");
  const sessionId = state.sessionId;     // a person may open another session while this turn streams
  let reply = null;
  const replyLine = () => reply || (reply = addLine("chat-reply", "", "reply"));
  try {
    const response = await fetch("/run_sse", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream", ...SKILL }),
      body: JSON.stringify({ app_name: "nemo_agent", user_id: "me", session_id: state.sessionId,
        new_message: { role: "user", parts: [{ text }] }, streaming: true }),
    });
    // an error before the stream opens is JSON (with REELFORGE_LEGACY_HTTP_200, under HTTP 200)
    if (!response.ok || (response.headers.get("content-type") || "").startsWith("application/json")) {
      throw await errorOf(response);
    }
    for await (const raw of sseEvents(response.body)) {
      if (state.sessionId !== sessionId) return;    // the turn goes on on the server; its session shows it later
      let event;
      try {
        event = JSON.parse(raw);
      } catch {
        continue;
      }
      if (event.error || event.errorMessage) {
        const line = replyLine();
        line.classList.add("error");
        if (!line.textContent) line.textContent = event.errorMessage || event.error;
      }
      for (const part of event.content?.parts || []) {
        if (part.functionCall) toolLine(part.functionCall);
        if (part.functionResponse) {
          const r = part.functionResponse.response || {};
          const line = [...document.querySelectorAll("[data-testid=chat-tool]")]
            .find((l) => l.dataset.callId === part.functionResponse.id);
          const ok = !r.status || r.status === "success";
          if (line) line.append(ok ? " ✓" : ` ✗ ${r.error || r.message || r.status}`);
        }
        if (typeof part.text === "string") {
          const line = replyLine();
          if (event.partial) line.textContent += part.text;
          else line.textContent = part.text;
          line.scrollIntoView({ block: "nearest" });
        }
      }
      const draft = event.actions?.stateDelta?.draft;
      if (draft) {
        state.draft = draft;      // the edit shows at once; the state below brings the server's summary
        state.summary = "";
        redraw();
      }
    }
    await Promise.all([refreshState(), showCredits(), refreshSessions()]);
  } catch (err) {
    showError(err);
  } finally {
    state.busy = false;
    $("chat-send").disabled = false;
    $("chat-undo").disabled = false;
    $("chat-log").removeAttribute("aria-busy");
  }
}

// Earlier turns of the session (ADK's session events: each turn's message and final reply).
async function loadHistory() {
  let session;
  try {
    session = await call("GET", `/apps/nemo_agent/users/me/sessions/${state.sessionId}`);
  } catch {
    return;     // history is a comfort: the session still opens without it
  }
  for (const event of session?.events || []) {
    const text = (event.content?.parts || []).map((p) => p.text || "").join("");
    if (!text) continue;
    addLine(event.author === "user" || event.content?.role === "user" ? "chat-user" : "chat-reply", text,
      event.author === "user" ? "user" : "reply");
  }
}

// ---------------------------------------------------------------- renders: preview, export, the list

// One render job body (E7/E8, or an item of the session's renders) as the page shows it.
function jobView(body) {
  const d = body.data && typeof body.data === "object" ? body.data : body;
  const out = { ...(d.output || {}), ...(body.output || {}) };
  return {
    id: body.id || d.id,
    status: body.status || d.status,
    progress: Number(body.progress ?? d.progress ?? 0),
    url: out.url || d.outputUrl || null,
    format: out.format || d.format || "",
    size: out.size ?? null,
    duration: out.duration ?? null,
    width: out.width,
    height: out.height,
    encoder: d.encoder || body.encoder || "",
    error: body.error || d.error || null,
    createdAt: d.createdAt,
    completedAt: d.completedAt,
  };
}

async function poll(renderId, onProgress, isCurrent = () => true) {
  for (;;) {
    const job = jobView(await call("GET", `/api/render/proxy/lambda/${encodeURIComponent(renderId)}`,
      { headers: SKILL }));
    if (!isCurrent()) return null;
    onProgress(job);
    if (job.status === "completed" || job.status === "failed") return job;
    await sleep(POLL_MS);
  }
}

async function preview() {
  clearError();
  const run = ++state.previewRun;
  const body = { sessionId: state.sessionId };
  if ($("preview-around").checked) {
    const at = Number($("playhead").value);
    body.start_ms = Math.max(0, at - 5000);
    body.end_ms = at + 5000;
  }
  const status = $("preview-status");
  status.textContent = "Rendering a preview…";
  const started = jobView(await call("POST", "/api/render/preview", { json: body, headers: SKILL }));
  const job = await poll(started.id, (j) => { status.textContent = `Rendering a preview… ${j.progress}%`; },
    () => run === state.previewRun);
  if (!job) return;
  if (job.status !== "completed") throw new ApiError(`The preview failed: ${job.error || "no reason given"}`);
  status.textContent = `Preview: ${seconds(job.duration)}${job.height ? `, ${job.height}p` : ""}`;
  const player = $("preview-player");
  player.src = job.url;
  player.hidden = false;
}

function showResult(job) {
  const media = IMAGE_FORMATS.has(job.format)
    ? el("img", { testid: "result-player", src: job.url, alt: `The exported ${job.format.toUpperCase()}` })
    : el("video", { testid: "result-player", src: job.url, controls: true, playsinline: true, preload: "metadata" });
  $("result-media").replaceChildren(media);
  $("result-size").textContent = bytes(job.size);
  $("result-duration").textContent = seconds(job.duration);
  $("result-encoder").textContent = job.encoder || "–";
  const link = $("result-download");
  link.href = job.url;
  link.setAttribute("download", `${job.id}.${job.format || "mp4"}`);
  $("export-result").hidden = false;
}

async function exportDraft(event) {
  event?.preventDefault();
  clearError();
  await refreshState();
  const output = { format: $("export-format").value, quality: $("export-quality").value };
  const button = $("export-button");
  const cancel = $("export-cancel");
  const bar = $("export-progress");
  const status = $("export-status");
  button.disabled = true;
  bar.value = 0;
  $("export-result").hidden = true;
  try {
    const started = jobView(await call("POST", "/api/render/proxy/lambda", {
      headers: SKILL,
      json: { id: `render_${Date.now()}`, sessionId: state.sessionId, draft: state.draft, output },
    }));
    status.textContent = "— waiting for a worker";
    // E10 stops it within about a second; the poll below then sees it fail as "cancelled"
    cancel.onclick = guard(async () => {
      cancel.disabled = true;
      status.textContent = "— cancelling";
      await call("POST", `/api/render/proxy/lambda/${encodeURIComponent(started.id)}/cancel`, { headers: SKILL });
    });
    cancel.disabled = false;
    cancel.hidden = false;
    const job = await poll(started.id, (j) => {
      bar.value = j.progress;
      if (!cancel.disabled) status.textContent = `— ${j.status} ${j.progress}%`;
    });
    if (job.status === "failed" && job.error === "cancelled") {
      status.textContent = "— cancelled";
      bar.value = 0;
      return;
    }
    if (job.status !== "completed") throw new ApiError(`The export failed: ${job.error || "no reason given"}`);
    status.textContent = "— done";
    showResult(job);
  } finally {
    cancel.hidden = true;
    cancel.onclick = null;
    button.disabled = false;
    await Promise.all([refreshRenders(), refreshSessions()]).catch(showError);
  }
}

async function refreshRenders() {
  let renders;
  try {
    renders = (await call("GET", `/api/sessions/${state.sessionId}/renders`)).renders || [];
  } catch (err) {
    $("render-list").replaceChildren(el("li", { class: "muted" }, `Cannot list the renders: ${err.message}`));
    return;
  }
  const items = renders.map((r) => {
    const job = jobView(r);
    const facts = [job.format.toUpperCase(), job.status === "completed" ? bytes(job.size) : job.status,
      job.duration != null ? seconds(job.duration) : "", when(job.completedAt || job.createdAt)].filter(Boolean);
    return el("li", { testid: "render-item", dataset: { renderId: job.id } },
      el("span", { class: "name" }, job.id), el("span", { class: "muted" }, facts.join(" · ")),
      job.status === "completed" && job.url
        ? el("button", { type: "button", class: "secondary", onclick: () => showResult(job) }, "Show") : null);
  });
  $("render-list").replaceChildren(...items);
  if (!items.length) $("render-list").append(el("li", { class: "muted" }, "No exports yet."));
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("error-close").addEventListener("click", clearError);
  $("new-session").addEventListener("click", guard(newSession));
  $("upload-input").addEventListener("change", guard(async (e) => {
    const files = [...e.target.files];
    e.target.value = "";
    await upload(files);
  }));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", guard(async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    await upload([...(e.dataTransfer?.files || [])]);
  }));
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("chat-input").value;
    $("chat-input").value = "";
    chat(text);
  });
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-undo").addEventListener("click", () => chat("undo"));
  $("preview-button").addEventListener("click", guard(preview));
  $("export-form").addEventListener("submit", guard(exportDraft));
  $("playhead").addEventListener("input", showPlayhead);
  $("timeline").addEventListener("click", (e) => {      // a click on a lane moves the playhead there
    const body = e.target.closest(".lane-body");
    if (!body) return;
    const box = body.getBoundingClientRect();
    const max = Number($("playhead").max) || 0;
    $("playhead").value = String(Math.round((max * (e.clientX - box.left)) / box.width / 100) * 100);
    showPlayhead();
  });
  // a file dropped beside the drop zone would make the browser leave the page to show it
  for (const kind of ["dragover", "drop"]) window.addEventListener(kind, (e) => e.preventDefault());
  window.addEventListener("unhandledrejection", (e) => showError(e.reason));
}

async function start() {
  wire();
  let claimed = null;
  try {
    claimed = await takeClaim();
  } catch (err) {
    showError(err);
  }
  const balance = await ensureToken();
  $("credits").textContent = `${balance.available} credits`;
  const sessions = await listSessions();
  const known = new Set(sessions.map((s) => s.session_id));
  const kept = localStorage.getItem(SESSION_KEY);
  let target = claimed?.sessionId || (known.has(kept) ? kept : sessions[0]?.session_id);
  if (!target) {
    target = (await call("POST", "/api/tasks/me/with-session/nemo_agent",
      { json: { task_name: "project", language: "en" } })).session_id;
  }
  state.sessionId = target;
  drawSessions(sessions.length && (known.has(target)) ? sessions : await listSessions());
  await openSession(target);
  showWho(state.userId, claimed?.how || "Anonymous token, kept in this browser,");
}

guard(start)();
