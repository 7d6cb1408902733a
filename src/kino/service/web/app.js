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
  for (const [k, v] of [...form.entries()]) {
    if (v === "" || (v instanceof File && v.size === 0)) form.delete(k);
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
      api(`/jobs/${job.id}/video`).then((r) => r.blob()).then((b) => { v.src = URL.createObjectURL(b); });
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

// -- storyboard editor: a list of shots becomes one multi-shot prompt
function addShot(text = "") {
  const li = document.createElement("li");
  const input = document.createElement("input");
  input.value = text; input.placeholder = "what happens in this shot";
  input.addEventListener("input", previewStoryboard);
  const rm = document.createElement("button");
  rm.type = "button"; rm.textContent = "×";
  rm.addEventListener("click", () => { li.remove(); previewStoryboard(); });
  li.append(input, rm);
  $("#shots").append(li);
}
function storyboardPrompt() {
  return [...document.querySelectorAll("#shots input")].map((i) => i.value.trim()).filter(Boolean)
    .map((t, n) => `Shot ${n + 1}: ${t}`).join(" ");
}
function previewStoryboard() { $("#storyboard-preview").textContent = storyboardPrompt(); }
$("#add-shot").addEventListener("click", () => addShot());
$("#use-storyboard").addEventListener("click", () => {
  $("#prompt").value = storyboardPrompt();
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
