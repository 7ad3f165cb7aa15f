// jsonevent admin page. The server renders each page's frame; this script
// calls the JSON API with the token the admin signed in with (kept in
// sessionStorage, sent as X-API-TOKEN) and fills the page. It builds DOM
// nodes with textContent only, so no value from a request can become markup.
"use strict";

const TOKEN_KEY = "jsonevent.token";
const page = document.body.dataset.page;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// el builds an element: el("a", {href: "/x", class: "y"}, "text", child…).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function clear(node, ...kids) { node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false)); node.removeAttribute("aria-busy"); }

function flash(msg) {
  const f = document.getElementById("flash");
  if (!f) return;
  f.textContent = msg;
  f.hidden = !msg;
}

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api calls the JSON API; a 401 sends the admin back to sign in.
async function api(method, path, body) {
  const headers = { "X-API-TOKEN": token(), "Accept": "application/json" };
  const init = { method, headers };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, init); } catch (e) { throw new APIError(0, "network", "the server did not answer: " + e.message); }
  let data = null;
  try { data = parseJSON(await res.text()); } catch (e) { data = null; }
  if (res.status === 401 && page !== "signin") { signOut("Your token was refused; sign in again."); throw new APIError(401, "unauthorized", "signed out"); }
  if (!res.ok) throw new APIError(res.status, data && data.error || "error", data && data.message || ("HTTP " + res.status));
  return data;
}

// parseJSON parses an API answer keeping each number as it was written
// where a JavaScript number would change it: a 64-bit id such as
// 12345678901234567890 would otherwise show as 12345678901234567000, and
// 1.10 as 1.1, in the tree, the samples, the preview and the fields. Such
// numbers become JSON.rawJSON values, which JSON.stringify writes back
// verbatim (browsers without it parse as before).
function parseJSON(text) {
  if (typeof JSON.rawJSON !== "function") return JSON.parse(text);
  return JSON.parse(text, (k, v, ctx) =>
    typeof v === "number" && ctx && typeof ctx.source === "string" && String(v) !== ctx.source ? JSON.rawJSON(ctx.source) : v);
}

function isRaw(v) { return typeof JSON.isRawJSON === "function" && JSON.isRawJSON(v); }

function signOut(msg) {
  sessionStorage.removeItem(TOKEN_KEY);
  const next = location.pathname + location.search;
  location.assign("/ui/?next=" + encodeURIComponent(next) + (msg ? "&msg=" + encodeURIComponent(msg) : ""));
}

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function statusBadge(status) {
  const cls = status < 300 ? "ok" : status === 429 || status >= 500 ? "warn" : "bad";
  return el("span", { class: "badge " + cls }, String(status));
}

function runBadge(st) {
  const cls = { succeeded: "ok", failed: "bad", retrying: "warn", skipped: "info" }[st] || "info";
  return el("span", { class: "badge " + cls }, st);
}

function raw(v) { return typeof v === "string" ? v : JSON.stringify(v); }

function copyButton(text, label) {
  return el("button", {
    type: "button", class: "small", "aria-label": label,
    onclick: async (ev) => {
      const b = ev.currentTarget;
      try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
      catch (e) { b.textContent = "Select and copy"; }
      setTimeout(() => { b.textContent = "Copy"; }, 1500);
    },
  }, "Copy");
}

// ---- sign in ----------------------------------------------------------

function initSignin() {
  const params = new URLSearchParams(location.search);
  const next = params.get("next") || "/ui/triggers";
  const safeNext = next.startsWith("/ui/") ? next : "/ui/triggers";
  if (params.get("msg")) document.getElementById("signin-note").textContent = params.get("msg");
  if (token()) { location.replace(safeNext); return; }
  const form = document.getElementById("signin-form");
  const input = document.getElementById("token");
  const err = document.getElementById("signin-error");
  input.focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) { err.textContent = "Enter your API token."; input.setAttribute("aria-invalid", "true"); return; }
    sessionStorage.setItem(TOKEN_KEY, t);
    try {
      await api("GET", "/v1/triggers");
      location.assign(safeNext);
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      err.textContent = e.status === 401 ? "That token is not valid for this server." : e.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
}

// ---- triggers ---------------------------------------------------------

function curlToken(url) {
  return "curl -sS -X POST '" + url + "' \\\n  -H 'Content-Type: application/json' \\\n  -H \"X-API-TOKEN: $JSONEVENT_TOKEN\" \\\n  -d '{\"hello\": \"world\"}'";
}

function curlBasic(url, user) {
  return "curl -sS -X POST '" + url + "' \\\n  -H 'Content-Type: application/json' \\\n  -u \"" + user + ":$JSONEVENT_TOKEN\" \\\n  -d '{\"hello\": \"world\"}'";
}

function codeBlock(id, label, text) {
  return [
    el("h3", { id: id + "-h" }, label),
    el("div", { class: "copyrow" }, el("pre", { "aria-labelledby": id + "-h", tabindex: "0" }, text), copyButton(text, "Copy " + label)),
  ];
}

async function initTriggers() {
  const box = document.getElementById("triggers");
  const data = await api("GET", "/v1/triggers");
  if (!data.triggers.length) { clear(box, el("p", {}, "This account has no triggers yet; add one to the config file.")); return; }
  clear(box, data.triggers.map((t, i) => el("article", { class: "card trigger", "aria-labelledby": "t" + i },
    el("h2", { id: "t" + i }, el("code", {}, t.id)),
    el("div", { class: "meta" },
      el("span", {}, "adapter ", el("strong", {}, t.adapter)),
      el("span", {}, t.fields + " field" + (t.fields === 1 ? "" : "s")),
      el("span", {}, t.workflows + " workflow" + (t.workflows === 1 ? "" : "s")),
      el("span", {}, "body limit " + Math.round(t.bodyBytes / 1024) + " KB"),
      t.capturing ? el("span", { class: "badge info" }, "capturing") : null),
    codeBlock("url" + i, "URL", t.url),
    codeBlock("ct" + i, "curl with X-API-TOKEN", curlToken(t.url)),
    codeBlock("cb" + i, "curl with Basic auth", curlBasic(t.url, t.username || "USERNAME")),
    el("div", { class: "actions" },
      el("a", { href: "/ui/triggers/" + encodeURIComponent(t.id) }, "Capture and fields"),
      el("a", { href: "/ui/events?trigger=" + encodeURIComponent(t.id) }, "Events")),
  )));
}

// ---- JSON tree --------------------------------------------------------

// normName renders a member name as RFC 9535 §2.7 does in normalized paths.
function normName(k) {
  let s = "['";
  for (const ch of k) {
    const c = ch.codePointAt(0);
    if (ch === "'") s += "\\'";
    else if (ch === "\\") s += "\\\\";
    else if (c < 0x20) {
      const esc = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" }[c];
      s += esc || "\\u00" + c.toString(16).padStart(2, "0");
    } else s += ch;
  }
  return s + "']";
}

function typeOf(v) {
  if (v === null) return "null";
  if (isRaw(v)) return "number";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

// tree renders a parsed JSON value as nested, collapsible lists. onPick,
// when given, makes every leaf a button that reports its path.
function tree(value, sugg, onPick) {
  const ul = el("ul", { class: "tree" });
  ul.append(node(null, value, "$", sugg, onPick, 0));
  return ul;
}

function node(key, v, path, sugg, onPick, depth) {
  const t = typeOf(v);
  const keyEl = key === null ? null : el("span", { class: "key" }, key + ": ");
  if ((t === "object" || t === "array") && (t === "array" ? v.length : Object.keys(v).length)) {
    const entries = t === "array" ? v.map((x, i) => [i, x]) : Object.entries(v);
    const kids = el("ul", {}, entries.map(([k, x]) =>
      node(t === "array" ? "[" + k + "]" : k, x, path + (t === "array" ? "[" + k + "]" : normName(k)), sugg, onPick, depth + 1)));
    const sum = el("summary", {}, keyEl, el("span", { class: "count" }, t === "array" ? "[" + v.length + " items]" : "{" + entries.length + " members}"));
    return el("li", {}, el("details", { open: depth < 4 }, sum, kids));
  }
  const s = sugg[path];
  const shown = JSON.stringify(s ? s.sample : v);
  const val = el("span", { class: "val " + t }, shown.length > 200 ? shown.slice(0, 200) + "…" : shown);
  if (!onPick) return el("li", {}, el("span", { class: "leaf" }, keyEl, val));
  const b = el("button", {
    type: "button", class: "leaf", "aria-pressed": "false", "data-path": path,
    "aria-label": "Use " + (key === null ? "the value" : key) + " as a field, value " + shown.slice(0, 80),
    onclick: () => onPick(path, s, b),
  }, keyEl, val);
  return el("li", {}, b);
}

// ---- trigger: capture and fields ---------------------------------------

async function initTrigger() {
  const id = document.body.dataset.trigger;
  const base = "/v1/triggers/" + encodeURIComponent(id);
  const $ = (x) => document.getElementById(x);
  const capBox = $("captures"), capStatus = $("cap-status"), live = $("cap-live");
  const nameIn = $("field-name"), pathIn = $("field-path"), valueOut = $("field-value");
  let known = new Set(), first = true, timer = null, selected = null, captures = [];

  function currentCapture() {
    if (selected) return selected.capture;
    // A vendor adapter's fields come from its document (normalizedBody),
    // so prefer a capture that has one; the generic adapter's is the body.
    return captures.find((c) => c.normalizedBody !== undefined && c.normalizedBody !== null) ||
      captures.find((c) => c.body !== undefined && c.body !== null);
  }

  async function preview() {
    const p = pathIn.value.trim();
    const c = currentCapture();
    if (!p) { valueOut.textContent = "Click a value in a captured request, or type a path."; return; }
    if (!c) { valueOut.textContent = "Capture a JSON request to see what this path extracts."; return; }
    try {
      const r = await api("POST", base + "/preview", { path: p, captureId: c.id });
      valueOut.textContent = "Extracts " + JSON.stringify(r.value) + (r.nodes > 1 ? " (" + r.nodes + " values)" : r.nodes === 0 ? " (nothing selected)" : "") +
        (r.hints || []).map((h) => ". Note: " + h).join("");
    } catch (e) { valueOut.textContent = e.message; }
  }

  function pick(capture) {
    return (path, s, button) => {
      document.querySelectorAll(".leaf[aria-pressed=true]").forEach((b) => b.setAttribute("aria-pressed", "false"));
      button.setAttribute("aria-pressed", "true");
      selected = { capture, path };
      nameIn.value = s ? s.name : path.replace(/.*\['?|'?\]$/g, "");
      pathIn.value = path;
      const wildBox = $("wild-row");
      if (wildBox) wildBox.remove();
      if (s && s.wildcard) {
        const cb = el("input", { type: "checkbox", id: "wild", class: "check", onchange: () => { pathIn.value = cb.checked ? s.wildcard : s.path; preview(); } });
        pathIn.parentElement.append(el("div", { id: "wild-row", class: "checkrow" }, cb, el("label", { for: "wild" }, "every element ([*])")));
      }
      preview();
      nameIn.focus();
      nameIn.select();
    };
  }

  function renderCapture(c, isNew) {
    const sugg = {};
    for (const s of c.suggestions || []) sugg[s.path] = s;
    const summary = el("summary", {},
      statusBadge(c.status), el("strong", {}, c.method), el("span", { class: "muted" }, fmtTime(c.receivedAt)),
      c.error ? el("span", { class: "reason" }, c.error + ": " + c.reason) : el("span", {}, c.eventId ? "stored as " : "", c.eventId ? el("a", { href: "/ui/events/" + encodeURIComponent(c.eventId) }, c.eventId) : ""));
    const q = new URLSearchParams(c.query || {}).toString();
    const headers = el("table", { class: "kv" }, el("tbody", {}, Object.entries(c.headers || {}).sort().map(([k, v]) =>
      el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v.join(", "))))));
    let body;
    if (c.normalizedBody !== undefined && c.normalizedBody !== null) {
      // Fields are extracted from the adapter's document, not the body as sent.
      body = [el("h3", {}, "Body ", el("span", { class: "muted small" }, "as sent")), tree(c.body, {}, null),
        el("h3", {}, "Normalised document ", el("span", { class: "muted small" }, "what fields are extracted from: click a value to make it a field")),
        tree(c.normalizedBody, sugg, pick(c))];
    } else if (c.body !== undefined && c.body !== null) {
      body = [el("h3", {}, "Body ", el("span", { class: "muted small" }, "click a value to make it a field")), tree(c.body, sugg, pick(c))];
    } else if (c.bodyTruncated) {
      body = [el("h3", {}, "Body"), el("p", { class: "muted" }, "Over the size limit: not kept.")];
    } else {
      body = [el("h3", {}, "Body ", el("span", { class: "muted small" }, "not JSON")), el("pre", {}, c.bodyText || "(empty)")];
    }
    return el("details", { class: "capture" + (isNew ? " new" : ""), open: isNew || first, "data-capture": c.id },
      summary, el("div", { class: "body" }, el("p", {}, el("code", {}, c.method + " ?" + q)), el("h3", {}, "Headers"), headers, body));
  }

  function renderSession(sv) {
    const stop = $("cap-stop"), start = $("cap-start");
    if (!sv) { capStatus.textContent = "No capture yet."; stop.hidden = true; return false; }
    const open = sv.state === "open";
    stop.hidden = !open;
    start.textContent = open ? "Restart capture" : "Start capture";
    const text = open
      ? "Capturing: " + sv.captured + " of " + sv.count + " request(s), until " + fmtTime(sv.expiresAt) + ". Send a request to the trigger's URL."
      : "Capture " + sv.state + ": " + sv.captured + " of " + sv.count + " request(s) captured.";
    if (capStatus.textContent !== text) capStatus.textContent = text; // a live region: announce changes only
    return open;
  }

  async function refresh() {
    clearTimeout(timer);
    let st;
    try { st = await api("GET", base + "/capture"); } catch (e) { if (e.status) flash(e.message); return; }
    const open = renderSession(st.session);
    captures = st.captures;
    const fresh = st.captures.filter((c) => !known.has(c.id));
    if (fresh.length) {
      if (known.size === 0) capBox.replaceChildren();
      for (const c of fresh.slice().reverse()) {
        capBox.prepend(renderCapture(c, !first));
        known.add(c.id);
        if (!first) live.textContent = "New request captured: " + c.method + ", answered " + c.status + (c.error ? " " + c.error : "") + ".";
      }
      // Captures beyond those the server keeps are gone.
      const keep = new Set(st.captures.map((c) => c.id));
      capBox.querySelectorAll("details.capture").forEach((d) => { if (!keep.has(d.dataset.capture)) d.remove(); });
    }
    first = false;
    // Quick while capturing; slowly otherwise, so a session started
    // elsewhere (the CLI, another admin) shows up too.
    timer = setTimeout(refresh, open ? 1000 : 5000);
  }

  async function loadFields(fv) {
    if (!fv) fv = await api("GET", base + "/fields");
    const rows = fv.fields.map((f) => el("tr", {},
      el("td", { "data-label": "Name" }, el("code", {}, f.name)),
      el("td", { "data-label": "Origin" }, el("span", { class: "badge " + (f.origin === "captured" ? "ok" : f.origin === "manual" ? "warn" : "info") }, f.origin)),
      el("td", { "data-label": "Path" }, el("code", {}, f.path), (f.hints || []).map((h) => el("p", { class: "muted small" }, "Note: " + h))),
      el("td", {}, f.origin === "captured" || f.origin === "manual"
        ? el("button", { type: "button", class: "small", "aria-label": "Remove field " + f.name, onclick: async () => {
          try { await loadFields(await api("DELETE", base + "/fields/" + encodeURIComponent(f.name))); $("field-status").textContent = "Removed " + f.name + "."; }
          catch (e) { $("field-status").textContent = e.message; }
        } }, "Remove") : "")));
    clear($("fields"),
      el("p", { class: "muted small" }, fv.manual + " of " + fv.manualLimit + " hand-written fields used; fields picked from a capture do not count."),
      fv.fields.length ? el("table", { class: "stack", id: "fields-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Origin"), el("th", {}, "JSONPath"), el("th", {}, el("span", { class: "visually-hidden" }, "Actions")))),
        el("tbody", {}, rows)) : el("p", {}, "No fields yet."));
  }

  $("capture-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const count = parseInt($("cap-count").value, 10), minutes = parseInt($("cap-minutes").value, 10);
    try {
      await api("POST", base + "/capture", { count, ttl_seconds: minutes * 60 });
      flash("");
      refresh();
    } catch (e) { capStatus.textContent = e.message; }
  });
  $("cap-stop").addEventListener("click", async () => {
    try { await api("DELETE", base + "/capture"); refresh(); } catch (e) { capStatus.textContent = e.message; }
  });
  let debounce = null;
  pathIn.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(preview, 400); });
  $("field-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = nameIn.value.trim(), path = pathIn.value.trim();
    const out = $("field-status");
    if (!name || !path) { out.textContent = "Give the field a name and a JSONPath."; (name ? pathIn : nameIn).focus(); return; }
    try {
      const fv = await api("POST", base + "/fields", { fields: { [name]: path } });
      await loadFields(fv);
      const f = fv.fields.find((x) => x.name === name);
      out.textContent = "Saved " + name + (f ? " (" + f.origin + ")" : "") + ". It applies to the next event.";
    } catch (e) { out.textContent = e.message; }
  });

  await Promise.all([refresh(), loadFields()]);
}

// ---- events and runs --------------------------------------------------

function renderRun(r, onRetry) {
  const attempts = (r.attempts || []).filter((a) => a.error);
  const notices = r.notifications || [];
  return el("article", { class: "run " + r.status, "aria-label": "Run " + r.id },
    el("div", { class: "head" }, runBadge(r.status), el("strong", {}, r.workflowId),
      el("span", { class: "muted" }, r.triggerId), el("a", { href: "/ui/events/" + encodeURIComponent(r.eventId) }, r.eventId),
      el("span", { class: "muted small" }, fmtTime(r.createdAt)),
      r.status === "failed" && onRetry
        ? el("button", { type: "button", class: "small", "aria-label": "Retry run " + r.id + " of " + r.workflowId, onclick: (ev) => onRetry(r, ev.currentTarget) }, "Retry") : null),
    r.skippedBy ? el("p", { class: "muted" }, "Skipped: " + r.skippedBy) : null,
    r.error ? el("p", { class: "reason" }, r.error) : null,
    attempts.length ? el("ol", { class: "attempts", "aria-label": "Failed attempts" }, attempts.map((a) =>
      el("li", { value: a.number }, el("span", { class: "muted" }, "attempt " + a.number + ", " + fmtTime(a.startedAt) + ": "), a.error))) : null,
    notices.length ? el("ul", { class: "notifications", "aria-label": "Failure notifications" }, notices.map(renderNotice)) : null);
}

// renderNotice says what became of one failure notification of a run:
// sent, being retried or given up, with its tries and last error.
function renderNotice(n) {
  const cls = { sent: "ok", retrying: "warn", failed: "bad" }[n.status] || "info";
  const word = { sent: "sent", retrying: "retrying", failed: "given up" }[n.status] || n.status;
  const tries = n.attempts + (n.attempts === 1 ? " try" : " tries");
  return el("li", { "data-channel": n.channel, "data-status": n.status },
    el("span", { class: "badge " + cls }, word), " ",
    n.channel + " notice of the failure after attempt " + n.runAttempts,
    el("span", { class: "muted" }, " (" + tries + ", " + fmtTime(n.at) + ")"),
    n.error ? ": " + n.error : "");
}

async function retryRun(r, button, reload) {
  button.disabled = true;
  try { await api("POST", "/v1/runs/" + encodeURIComponent(r.id) + "/retry"); flash(""); button.textContent = "Retrying…"; setTimeout(reload, 800); }
  catch (e) { flash("Retry failed: " + e.message); button.disabled = false; }
}

async function initEvents() {
  const params = new URLSearchParams(location.search);
  const trig = params.get("trigger") || "";
  const q = trig ? "&trigger=" + encodeURIComponent(trig) : "";
  const runsBox = document.getElementById("runs"), evBox = document.getElementById("events");
  async function loadRuns() {
    try {
      const [failed, all] = await Promise.all([api("GET", "/v1/runs?status=failed&limit=50" + q), api("GET", "/v1/runs?limit=50" + q)]);
      const order = { failed: 0, retrying: 1, running: 2, pending: 3, skipped: 4, succeeded: 5 };
      const seen = new Set(), runs = [];
      for (const r of [...failed.runs, ...all.runs]) if (!seen.has(r.id)) { seen.add(r.id); runs.push(r); }
      runs.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || (a.createdAt < b.createdAt ? 1 : -1));
      clear(runsBox, runs.length ? el("div", { class: "runs" }, runs.map((r) => renderRun(r, (run, b) => retryRun(run, b, loadRuns)))) : el("p", { class: "muted" }, "No workflow runs yet."));
    } catch (e) {
      clear(runsBox, el("p", { class: "muted" }, e.status === 404 ? "Workflow runs are not available on this server." : e.message));
    }
  }
  async function loadEvents() {
    const data = await api("GET", "/v1/events?limit=50" + q);
    if (!data.events.length) { clear(evBox, el("p", { class: "muted" }, "No events yet.")); return; }
    clear(evBox, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, el("th", {}, "Received"), el("th", {}, "Trigger"), el("th", {}, "Event"), el("th", {}, "Fields"))),
      el("tbody", {}, data.events.map((e) => el("tr", {},
        el("td", { "data-label": "Received" }, fmtTime(e.receivedAt)),
        el("td", { "data-label": "Trigger" }, el("code", {}, e.triggerId)),
        el("td", { "data-label": "Event" }, el("a", { href: "/ui/events/" + encodeURIComponent(e.eventId) }, e.eventId)),
        el("td", { "data-label": "Fields" }, Object.entries(e.fields || {}).slice(0, 4).map(([k, v]) => {
          const s = raw(v);
          return el("div", {}, el("span", { class: "key" }, k + ": "), s.length > 60 ? s.slice(0, 60) + "…" : s);
        })))))));
  }
  await Promise.all([loadRuns(), loadEvents()]);
}

async function initEvent() {
  const id = document.body.dataset.event;
  const box = document.getElementById("event");
  let timer = null;
  async function load() {
    clearTimeout(timer);
    let ev;
    try { ev = await api("GET", "/v1/events/" + encodeURIComponent(id)); }
    catch (e) { clear(box, el("p", { class: "flash" }, e.message)); return; }
    // Runs still under way are followed until they settle.
    // So are the failure notifications still being retried.
    if ((ev.runs || []).some((r) => ["pending", "running", "retrying"].includes(r.status) ||
      (r.notifications || []).some((n) => n.status === "retrying"))) timer = setTimeout(load, 2000);
    const fields = Object.entries(ev.fields || {}).sort();
    const meta = [["Trigger", ev.triggerId], ["Received", fmtTime(ev.receivedAt)], ["Context", ev.contextId], ["User", ev.userId], ["Brand", ev.brandId], ["Idempotency key", ev.idempotencyKey], ["Replay of", ev.replayOf]]
      .filter(([, v]) => v);
    clear(box,
      el("section", { class: "card", "aria-labelledby": "meta-h" }, el("h2", { id: "meta-h" }, "Event"),
        el("table", { class: "kv" }, el("tbody", {}, meta.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))))),
      el("section", { class: "card", "aria-labelledby": "ef-h" }, el("h2", { id: "ef-h" }, "Fields"),
        fields.length ? el("table", { class: "stack", id: "event-fields" },
          el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Value"))),
          el("tbody", {}, fields.map(([k, v]) => el("tr", { "data-field": k }, el("td", { "data-label": "Field" }, el("code", {}, k)), el("td", { "data-label": "Value" }, raw(v))))))
          : el("p", { class: "muted" }, "No fields.")),
      ev.runs ? el("section", { class: "card", "aria-labelledby": "er-h" }, el("h2", { id: "er-h" }, "Workflow runs"),
        ev.runs.length ? el("div", { class: "runs" }, ev.runs.map((r) => renderRun(r, (run, b) => retryRun(run, b, load)))) : el("p", { class: "muted" }, "No workflow ran for this event.")) : null,
      (ev.warnings || []).length ? el("section", { class: "card" }, el("h2", {}, "Warnings"), el("ul", {}, ev.warnings.map((w) => el("li", {}, w)))) : null,
      el("section", { class: "card", "aria-labelledby": "eh-h" }, el("h2", { id: "eh-h" }, "Headers"),
        el("table", { class: "kv" }, el("tbody", {}, Object.entries(ev.headers || {}).sort().map(([k, v]) =>
          el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v.join(", "))))))),
      el("section", { class: "card", "aria-labelledby": "eb-h" }, el("h2", { id: "eb-h" }, "Body"),
        typeof ev.body === "string" ? el("pre", {}, ev.body) : tree(ev.body, {}, null)));
  }
  await load();
}

// ---- start ------------------------------------------------------------

async function start() {
  if (page === "signin") { initSignin(); return; }
  if (!token()) { signOut(""); return; }
  document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
  const init = { triggers: initTriggers, trigger: initTrigger, events: initEvents, event: initEvent }[page];
  try {
    if (init) await init();
    api("GET", "/v1/triggers").then((d) => { document.getElementById("account").textContent = "account " + d.accountId; }).catch(() => {});
  } catch (e) {
    if (e.status !== 401) flash(e.message);
  }
}

start();
