// kino web page: plain JS against /api/v1. The page keeps no copy of the API key: it is sent once, to
// /login, whose answer sets a session cookie this script cannot read (HttpOnly, SameSite=Strict).
"use strict";
const $ = (s) => document.querySelector(s);
let me = null;

async function api(path, opts = {}) {
  const headers = Object.assign({ "X-Kino-Page": "1" }, opts.headers || {});
  const res = await fetch("/api/v1" + path, Object.assign({}, opts, { headers }));
  if (!res.ok) {
    let err = { code: "http_" + res.status, message: res.statusText };
    try { err = (await res.json()).error || err; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(err.message), err, { status: res.status });
  }
  return res.status === 204 ? null : res;
}
const json = async (path, opts) => (await api(path, opts)).json();

async function login(k) {  // k: the key typed in, or none to resume the session the cookie holds
  me = await json("/login", { method: "POST", headers: k ? { Authorization: "Bearer " + k } : {} });
  $("#key").value = "";
  $("#login-view").hidden = true; $("#app-view").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = `${me.name} (${me.role})`;
  $("#admin-tab").hidden = me.role !== "admin";
  $("#model").innerHTML = me.policy.models.map((m) => `<option>${m}</option>`).join("");
  refreshGallery();
  json("/voices").then((voices) => {
    $("#voices").replaceChildren(...voices.map((v) => new Option(`${v.language} — ${v.description} (${v.engine})`, v.name)));
  }).catch(() => { /* narration still works with the default voice */ });
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try { await login($("#key").value.trim()); } catch (err) { $("#login-error").textContent = err.message; }
});
$("#logout").addEventListener("click", async () => {
  try { await api("/logout", { method: "POST" }); } finally { location.reload(); }
});

document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("nav button").forEach((x) => x.classList.toggle("on", x === b));
  for (const t of ["create", "storyboard", "gallery", "admin"]) $("#tab-" + t).hidden = t !== b.dataset.tab;
  if (b.dataset.tab === "gallery") refreshGallery();
  if (b.dataset.tab === "admin") refreshAdmin();
}));

// -- create a job and follow it over server-sent events (fetch stream: EventSource cannot send a key)
$("#job-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#job-error").textContent = "";
  const form = new FormData(e.target);
  for (const [k, v] of [...form.entries()]) {  // shot_narration stays whole: an empty line is a silent shot
    if (k !== "shot_narration" && (v === "" || (v instanceof File && v.size === 0))) form.delete(k);
  }
  try {
    const job = await json("/jobs", { method: "POST", body: form });
    follow(job);
  } catch (err) {
    let msg = `${err.code}: ${err.message}`;
    if (err.scores) msg += " — scores " + JSON.stringify(err.scores);
    $("#job-error").textContent = msg;
  }
});

async function follow(job) {
  $("#current").hidden = false;
  $("#current-id").textContent = job.id;
  show(job);
  const res = await api(`/jobs/${job.id}/events`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
      if (data && data !== "{}") show(JSON.parse(data));
    }
  }
  refreshGallery();
}

function show(job) {
  const pct = Math.round(job.progress * 100);
  const waiting = job.status === "queued" && job.queue_position != null ? ` (${job.queue_position} ahead)` : "";
  const stage = job.stage ? ` (${job.stage})` : "";
  $("#current-status").textContent = job.status + waiting + (job.status === "running" ? ` ${pct}%${stage}` : "") +
    (job.error ? ` — ${job.error.code}: ${job.error.message}` : "");
  $("#current-status").dataset.status = job.status;
  $("#progress").value = job.progress;
}

// -- gallery: videos are fetched in the session and played from blob URLs
async function refreshGallery() {
  const { jobs } = await json("/jobs?limit=24");
  const g = $("#gallery");
  g.innerHTML = "";
  for (const job of jobs) {
    const card = document.createElement("div");
    card.className = "card"; card.dataset.job = job.id; card.dataset.status = job.status;
    const p = document.createElement("p");
    p.textContent = `${job.params.prompt || "(no prompt)"} — ${job.status}`;
    card.append(p);
    if (job.status === "done") {
      const v = document.createElement("video");
      v.controls = true; v.muted = true; v.loop = true; v.preload = "auto";
      card.prepend(v);
      play(v, job);
      const badge = document.createElement("span");
      badge.className = "badge"; badge.textContent = "provenance…";
      card.append(badge);
      json(`/jobs/${job.id}/provenance`).then((pv) => {
        const words = { kino: "provenance: signed and watermarked by kino", marked: "provenance: watermark only",
          signed: "provenance: C2PA only", none: "provenance: none found", unreadable: "provenance: unreadable" };
        badge.className = "badge " + (pv.provenance_summary === "kino" ? "ok" : "no");
        badge.dataset.summary = pv.provenance_summary;
        badge.textContent = words[pv.provenance_summary] || pv.provenance_summary;
        badge.title = pv.provenance ? `C2PA: ${pv.provenance.c2pa.status}; watermark: ` +
          (pv.provenance.watermark.present ? `key ${pv.provenance.watermark.key_id}` : "not found") : (pv.note || "");
      }).catch(() => { badge.textContent = "provenance: unavailable"; });
    }
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.addEventListener("click", async () => { await api(`/jobs/${job.id}`, { method: "DELETE" }); refreshGallery(); });
    card.append(del);
    g.append(card);
  }
}
$("#refresh").addEventListener("click", refreshGallery);

// A job's video and captions are fetched in the session (its cookie, as every API call) and played
// from blob URLs, which the page's Content-Security-Policy allows as media. The caption track is
// in place before the video loads, so the browser shows it as the default.
async function play(v, job) {
  const blob = (path) => api(path).then((r) => r.blob()).then((b) => URL.createObjectURL(b));
  const [video, captions] = await Promise.all([blob(`/jobs/${job.id}/video`),
    job.captions_url ? blob(`/jobs/${job.id}/captions.vtt`) : null]);
  if (captions) {
    const track = document.createElement("track");
    const voice = (job.result && job.result.narration && job.result.narration.voices[0]) || {};
    track.kind = "captions"; track.default = true; track.label = "Narration"; track.src = captions;
    track.srclang = (voice.language || "en").split("-")[0];
    v.append(track);
  }
  v.src = video;
}

// -- storyboard editor: a list of shots becomes one multi-shot prompt, and their narration the job's
// shot_narration lines (one per shot, empty for a silent one), kept while the prompt is the storyboard's
function addShot(text = "") {
  const li = document.createElement("li");
  const input = document.createElement("input");
  input.className = "shot"; input.value = text; input.placeholder = "what happens in this shot";
  input.addEventListener("input", previewStoryboard);
  const line = document.createElement("input");
  line.className = "line"; line.placeholder = "narration (optional)";
  const rm = document.createElement("button");
  rm.type = "button"; rm.textContent = "×";
  rm.addEventListener("click", () => { li.remove(); previewStoryboard(); });
  li.append(input, line, rm);
  $("#shots").append(li);
}
function storyboardShots() {
  return [...document.querySelectorAll("#shots li")]
    .map((li) => ({ shot: li.querySelector(".shot").value.trim(), line: li.querySelector(".line").value.trim() }))
    .filter((s) => s.shot);
}
function storyboardPrompt() { return storyboardShots().map((s, n) => `Shot ${n + 1}: ${s.shot}`).join(" "); }
function previewStoryboard() { $("#storyboard-preview").textContent = storyboardPrompt(); }
let shotLinesPrompt = null;  // the prompt the shot lines in the form belong to
function setShotLines(lines, prompt) {
  $("#shot-lines").replaceChildren(...lines.map((text) => Object.assign(document.createElement("input"),
    { type: "hidden", name: "shot_narration", value: text })));
  shotLinesPrompt = lines.length ? prompt : null;
  $("#shot-lines-note").hidden = !lines.length;
  $("#shot-lines-note").textContent = `Narration from the storyboard: ${lines.filter(Boolean).length} of ` +
    `${lines.length} shots spoken.`;
}
$("#prompt").addEventListener("input", () => {
  if (shotLinesPrompt !== null && $("#prompt").value !== shotLinesPrompt) setShotLines([], null);
});
$("#add-shot").addEventListener("click", () => addShot());
$("#use-storyboard").addEventListener("click", () => {
  const shots = storyboardShots();
  $("#prompt").value = storyboardPrompt();
  setShotLines(shots.some((s) => s.line) ? shots.map((s) => s.line) : [], $("#prompt").value);
  document.querySelector('nav button[data-tab="create"]').click();
});
addShot(); addShot();

// -- admin: users, roles, audit log
async function refreshAdmin() {
  const users = await json("/admin/users");
  $("#users tbody").innerHTML = "";
  for (const u of users) {
    const tr = document.createElement("tr");
    const roleSel = document.createElement("select");
    for (const r of ["admin", "red_team", "artist", "public"]) roleSel.add(new Option(r, r, false, r === u.role));
    roleSel.addEventListener("change", async () => {
      await json(`/admin/users/${u.id}`, { method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ role: roleSel.value }) });
      refreshAdmin();
    });
    const dis = document.createElement("input");
    dis.type = "checkbox"; dis.checked = u.disabled;
    dis.addEventListener("change", async () => {
      await json(`/admin/users/${u.id}`, { method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ disabled: dis.checked }) });
    });
    const cells = [u.id, u.name, roleSel, dis, u.keys].map((x) => {
      const td = document.createElement("td"); td.append(x instanceof Node ? x : String(x)); return td;
    });
    tr.append(...cells);
    $("#users tbody").append(tr);
  }
  const roles = await json("/roles");
  const cols = ["models", "commands", "max_seconds", "max_pixels", "max_steps", "jobs_per_minute", "jobs_per_day",
    "see_scores", "enabled"];
  $("#roles").innerHTML = "";
  const head = document.createElement("tr");
  for (const c of ["role", ...cols]) { const th = document.createElement("th"); th.textContent = c; head.append(th); }
  $("#roles").append(head);
  for (const [role, p] of Object.entries(roles)) {
    const tr = document.createElement("tr");
    for (const x of [role, ...cols.map((c) => Array.isArray(p[c]) ? p[c].join(", ") : String(p[c]))]) {
      const td = document.createElement("td"); td.textContent = x; tr.append(td);
    }
    $("#roles").append(tr);
  }
  const events = await json("/admin/audit?limit=50");
  $("#audit tbody").innerHTML = "";
  for (const ev of events) {
    const tr = document.createElement("tr");
    for (const x of [new Date(ev.at * 1000).toISOString(), ev.actor || "-", ev.action, ev.target || "", JSON.stringify(ev.detail)]) {
      const td = document.createElement("td"); td.textContent = x; tr.append(td);
    }
    $("#audit tbody").append(tr);
  }
}
$("#user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const out = await json("/admin/users", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("#new-name").value, role: $("#new-role").value }) });
    $("#new-key").textContent = `key for ${out.user.name} (shown once): ${out.api_key}`;
    refreshAdmin();
  } catch (err) { $("#new-key").textContent = `${err.code}: ${err.message}`; }
});

login(null).catch(() => { /* no session yet: the login form shows */ });
