// The farm page: the live render workers (or this server's local render slots), the queue and the last renders,
// from GET /api/farm/workers every second.

import { call, clearError, el, ensureToken, seconds, showError, sleep, when } from "./api.js";

const $ = (id) => document.getElementById(id);
const EVERY_MS = 1000;

const OTHERS = "another user's render";

// A job row of the listing (render_id is null for other users' jobs) in words.
function jobName(j) {
  return j.render_id || (j.preview ? "a preview" : OTHERS);
}

function workerCard(w) {
  const jobs = w.running;             // each with its progress
  const busy = Math.max(jobs.length, Number(w.busy || 0));
  const first = jobs.find((j) => j.progress != null);
  const jobText = jobs.map((j) => `${jobName(j)}${j.format ? ` (${j.format.toUpperCase()})` : ""}`
    + `${j.progress != null ? ` ${j.progress}%` : ""}`).join(", ") || (busy ? "busy" : "idle");
  const slots = w.slots ? ` · ${busy}/${w.slots} slots busy` : "";
  return el("li", { testid: "farm-worker", class: "panel worker", dataset: { worker: w.name } },
    el("h3", {}, el("span", {}, w.name), el("span", { class: `state${busy ? " busy" : ""}` }, busy ? "rendering" : "idle")),
    el("dl", { class: "facts" },
      el("dt", {}, "Queues"), el("dd", { testid: "worker-queues" }, (w.queues || []).join(", ") || "–"),
      el("dt", {}, "Encoder"), el("dd", { testid: "worker-encoder" }, w.encoder || w.choice?.encoder || "–"),
      el("dt", {}, "GPU"), el("dd", { testid: "worker-gpu" }, w.gpu || "none"),
      el("dt", {}, "Job"), el("dd", { testid: "worker-job" }, jobText),
      w.host ? [el("dt", {}, "Host"), el("dd", {}, `${w.host}${w.pid ? ` (pid ${w.pid})` : ""}`)] : null,
      w.load != null ? [el("dt", {}, "Load"), el("dd", {}, `${Number(w.load).toFixed(2)}${slots}`)] : null),
    el("progress", { testid: "worker-progress", max: 100, value: first?.progress ?? 0,
      "aria-label": `${w.name}: progress of its current render` }));
}

function recentRow(r) {
  return el("tr", { testid: "farm-recent-item", dataset: { renderId: r.render_id || "" } },
    el("td", {}, jobName(r)), el("td", {}, r.status || "–"), el("td", {}, (r.format || "–").toUpperCase()),
    el("td", {}, r.duration_ms != null ? seconds(r.duration_ms / 1000) : "–"),
    el("td", {}, r.render_ms != null ? seconds(r.render_ms / 1000) : "–"),
    el("td", {}, r.worker || "–"), el("td", {}, when(r.completedAt || r.completed_at)));
}

function draw(data) {
  const workers = data.workers || [];
  $("farm-mode").dataset.mode = data.mode || "";
  $("farm-mode").textContent = data.mode === "farm"
    ? `Render farm: ${workers.length} live worker${workers.length === 1 ? "" : "s"} on Redis`
    : "Embedded: this server's own render slots";
  $("farm-workers").replaceChildren(...workers.map(workerCard));
  if (!workers.length) $("farm-workers").append(el("li", { class: "muted" }, "No live worker."));
  const jobs = data.jobs || {};
  const waiting = (data.queue || []).map((j) => `${jobName(j)}${j.format ? ` (${j.format.toUpperCase()})` : ""}`);
  $("farm-queue").textContent = `${jobs.rendering ?? 0} rendering · ${jobs.waiting ?? 0} waiting`
    + (waiting.length ? `: ${waiting.join(", ")}` : "");
  const recent = data.recent || [];
  $("farm-recent").replaceChildren(...recent.map(recentRow));
  if (!recent.length) $("farm-recent").append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No renders yet.")));
  $("farm-updated").textContent = `Last update ${new Date().toLocaleTimeString()}.`;
}

async function start() {
  $("error-close").addEventListener("click", clearError);
  await ensureToken();
  for (;;) {
    try {
      draw(await call("GET", "/api/farm/workers"));
      $("error-banner").hidden = true;
    } catch (err) {
      showError(err);
    }
    await sleep(EVERY_MS);
  }
}

start().catch(showError);
