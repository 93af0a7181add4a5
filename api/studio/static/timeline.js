// The draft as a timeline: one lane per track, each segment a block at its place and length (docs/draft-format.md
// 4.4: a missing `st` follows the previous segment of its track, a missing `d` is the rest of the clip or 3 s).

import { el } from "./api.js";

const TRACK_NAMES = { 0: "Video", 1: "Audio", 7: "Text" };
const STILL = /\.(jpe?g|png|webp|gif|heic|heif|bmp)$/i;
const DEFAULT_MS = 3000;

const secs = (ms) => `${(ms / 1000).toFixed(2).replace(/\.?0+$/, "")}s`;

function fileName(src) {
  const path = String(src || "").split("?")[0];
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)) || String(src || "");
}

function label(src) {
  return fileName(src).replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ");
}

// The upload a `src` names: its URL, its path, its id or its file name (docs/draft-format.md 4.14).
function infoFor(src, infos) {
  const s = String(src || "");
  return infos.find((i) => [i.url, i.cdn_url].some((u) => u && (u === s || u.split("?")[0].endsWith(s.split("?")[0])))
    || (i.id && s.includes(i.id)) || (i.filename && i.filename === s));
}

function lengthOf(seg, tt, infos) {
  if (seg.d != null) return Number(seg.d);
  if (tt === 7) return DEFAULT_MS;
  const info = infoFor(seg.src, infos);
  const still = info ? info.file_type === "image" : STILL.test(String(seg.src || "").split("?")[0]);
  if (still && tt !== 1) return DEFAULT_MS;
  if (!info?.duration) return DEFAULT_MS;
  const rest = info.duration * 1000 - Number(seg.ss || 0);
  return Math.max(1, tt === 1 ? rest : rest / Number(seg.spd || 1));
}

function transitionName(t) {
  if (!t) return null;
  if (typeof t === "string") return t;
  return `${t.type || "fade"}${t.d ? ` ${t.d} ms` : ""}`;
}

export function place(draft, infos) {
  const tracks = (draft?.t || []).map((track) => {
    const tt = Number(track.tt);
    let cursor = 0;
    const segments = (track.sg || []).map((seg) => {
      const start = seg.st != null ? Number(seg.st) : cursor;
      const length = lengthOf(seg, tt, infos);
      cursor = start + length;
      return { seg, start, end: start + length };
    });
    return { track, tt, segments };
  });
  const ends = (types) => Math.max(0, ...tracks.filter((t) => types.includes(t.tt))
    .flatMap((t) => t.segments.map((s) => s.end)));
  const total = draft?.d != null ? Number(draft.d) : ends([0, 7]) || ends([1]);
  return { tracks, total };
}

// A line in the style of the engine's summary, for a server that sends none with the state.
export function summaryOf(placed) {
  const parts = placed.tracks.map(({ track, tt, segments }, i) => {
    const items = segments.map(({ seg, start, end }) => {
      const span = `${secs(start).slice(0, -1)}-${secs(end)}`;
      if (tt === 7) return `"${String(seg.txt || "").slice(0, 40)}" (${span})`;
      let extra = "";
      if (tt === 1) extra = track.mute ? ", muted" : `, ${Math.round(100 * Number(seg.vol ?? 1))}%`;
      else if (seg.mute || track.mute) extra = ", muted";
      else if (seg.spd && Number(seg.spd) !== 1) extra = `, ${seg.spd}x`;
      return `${seg.n || label(seg.src)} (${span}${extra})`;
    });
    return `${i + 1}. ${track.n || TRACK_NAMES[tt] || "Track"}: ${items.length ? items.join(", ") : "empty"}`;
  });
  const n = placed.tracks.length;
  return `Timeline (${n} track${n === 1 ? "" : "s"}): ${parts.join(" ") || "empty"}`;
}

function details(seg, tt, start, end) {
  const lines = [];
  if (tt === 7) lines.push(`Text: "${seg.txt}"`);
  else lines.push(`${seg.n || label(seg.src)} (${fileName(seg.src)})`);
  lines.push(`On the timeline: ${secs(start)} to ${secs(end)} (${secs(end - start)})`);
  if (seg.ss) lines.push(`From ${secs(Number(seg.ss))} into the source`);
  if (seg.spd && Number(seg.spd) !== 1) lines.push(`Speed ${seg.spd}x`);
  if (seg.rev) lines.push("Plays backwards");
  if (seg.vol != null && Number(seg.vol) !== 1) lines.push(`Volume ${Math.round(100 * Number(seg.vol))}%`);
  if (seg.mute) lines.push("Muted");
  if (seg.fi) lines.push(`Fade in ${seg.fi} ms`);
  if (seg.fo) lines.push(`Fade out ${seg.fo} ms`);
  if (seg.mo) lines.push(`Motion: ${typeof seg.mo === "string" ? seg.mo : seg.mo.type}`);
  if (seg.tr?.in) lines.push(`Enters with: ${transitionName(seg.tr.in)}`);
  if (seg.tr?.out) lines.push(`Leaves with: ${transitionName(seg.tr.out)}`);
  if (seg.crop) lines.push("Cropped");
  if (seg.blur?.length) lines.push(`${seg.blur.length} blurred region(s)`);
  if (seg.style?.pos) lines.push(`Position: ${seg.style.pos}`);
  if (seg.style?.color) lines.push(`Colour: ${seg.style.color}`);
  return lines.join("\n");
}

function ruler(total) {
  const steps = [500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];
  const step = steps.find((s) => total / s <= 10) || 600000;
  const ticks = [];
  for (let at = 0; at <= total; at += step) {
    ticks.push(el("span", { class: "tick", style: { left: `${(100 * at) / total}%` } }, secs(at)));
  }
  return el("div", { class: "ruler", "aria-hidden": "true" }, ticks);
}

// Draw `draft` into `box` and its summary line into `summaryEl`; answers the timeline's length in ms.
export function drawTimeline(box, summaryEl, draft, infos, summary) {
  const placed = place(draft || {}, infos || []);
  if (!placed.tracks.length || !placed.total) {
    box.replaceChildren();
    box.classList.add("empty");
    summaryEl.textContent = "Nothing on the timeline yet: upload a clip or a picture.";
    return 0;
  }
  box.classList.remove("empty");
  summaryEl.textContent = summary || summaryOf(placed);
  const total = placed.total;
  const format = draft?.m?.out?.format;
  const lanes = placed.tracks.map(({ track, tt, segments }, i) => {
    const name = track.n || TRACK_NAMES[tt] || "Track";
    const kind = { 0: "video", 1: "audio", 7: "text" }[tt] || "other";
    const blocks = segments.map(({ seg, start, end }) => {
      const info = tt === 0 ? infoFor(seg.src, infos || []) : null;
      const still = tt === 0 && (info ? info.file_type === "image" : STILL.test(String(seg.src || "").split("?")[0]));
      const text = details(seg, tt, start, end);
      const left = (100 * Math.min(start, total)) / total;
      const width = Math.max(0, (100 * (Math.min(end, total) - Math.min(start, total))) / total);
      return el("div", {
        testid: "timeline-segment", class: `seg ${kind}${still ? " still" : ""}`, tabindex: 0, role: "listitem",
        title: text, "aria-label": text.replaceAll("\n", ". "), style: { left: `${left}%`, width: `${width}%` },
      },
      seg.tr?.in ? el("span", { class: "tr in", title: `enters: ${transitionName(seg.tr.in)}` }, "◆") : null,
      el("span", { class: "seg-name" }, tt === 7 ? `“${seg.txt}”` : seg.n || label(seg.src)),
      el("span", { class: "seg-time" }, secs(end - start)),
      seg.tr?.out ? el("span", { class: "tr out", title: `leaves: ${transitionName(seg.tr.out)}` }, "◆") : null);
    });
    return el("div", { testid: "timeline-lane", class: `lane ${kind}${track.mute ? " muted" : ""}`, dataset: { track: i } },
      el("span", { class: "lane-name" }, `${i + 1}. ${name}${track.mute ? " (muted)" : ""}`),
      el("div", { class: "lane-body", role: "list", "aria-label": `${name} track` }, blocks));
  });
  const badge = format && format !== "mp4"
    ? el("p", { class: "out-badge" }, `Output: ${format.toUpperCase()}${draft.m.out.loop_seam && draft.m.out.loop_seam !== "none" ? ", looping" : ""}`)
    : null;
  box.replaceChildren(ruler(total), ...lanes, el("div", { class: "playhead", "aria-hidden": "true" }));
  if (badge) box.append(badge);
  return total;
}
