// wgate's admin UI: one page, hash routes (#/people, #/keys, ...), drawn
// with preact + htm (npm htm's one-file build, embedded; no bundler). Every
// list is read a page at a time from the admin API (keyset cursors, at most
// 100 rows), so it stays fast with 10,000 people. Live numbers come from the
// server-sent events of /api/v1/events ("status" every ~2 s, "audit" for
// each new record); when they cannot flow (an old server, a proxy that
// buffers), it polls /api/v1/status every 2 s instead, and tries the
// stream again every 30 s.
import { html, render, useState, useEffect, useRef, useCallback } from "./standalone.module.js";

const PAGE = 50;  // rows per page (the API allows up to 500; the UI never asks more than 100)
const CONNECTED_WITHIN = 180;  // seconds since the last handshake that count as connected (WireGuard rekeys every 2 min)

// --- the API ---------------------------------------------------------------------
let csrf = "";

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method, headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    location.assign("/auth/login?return_to=/admin");
    throw new Error("not logged in");
  }
  if (res.status === 204) return {};
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : {}; } catch { json = { error: text }; }
  if (!res.ok) throw new Error(json.error || `${res.status} ${res.statusText}`);
  return json;
}

const qs = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
};

// --- formatting ------------------------------------------------------------------
const bytes = (n) => {
  if (n === undefined || n === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
};
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "—");
const ago = (t) => {
  if (!t) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - t));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
};

// --- routing ---------------------------------------------------------------------
// "#/person/alice?x=1" -> { path: ["person", "alice"], query: URLSearchParams }
function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [p, q] = h.split("?");
  return { path: p ? p.split("/").map(decodeURIComponent) : [], query: new URLSearchParams(q || "") };
}
const go = (hash) => { location.hash = hash; };
function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

// --- live data: SSE, or polling when SSE fails -----------------------------------------
const live = {
  status: null,     // the last /api/v1/status
  prevStatus: null, // the one before (for rates)
  audit: [],        // newest first, at most 50
  mode: "connecting",
  error: "",
  listeners: new Set(),
  set(patch) {
    Object.assign(this, patch);
    for (const l of this.listeners) l();
  },
  onStatus(s) {
    this.set({ prevStatus: this.status ? { at: this.statusAt, s: this.status } : null, status: s,
               statusAt: Date.now(), error: "" });
  },
};

function startLive() {
  let polling = null;
  const poll = async () => {
    try {
      live.onStatus(await api("GET", "/api/v1/status"));
      const a = await api("GET", "/api/v1/audit?limit=20");
      live.set({ audit: a.items });
    } catch (e) {
      live.set({ error: e.message });
    }
  };
  const stopPolling = () => {
    if (polling) clearInterval(polling);
    polling = null;
  };
  const fallBack = () => {
    if (polling) return;
    live.set({ mode: "polling" });
    poll();
    polling = setInterval(poll, 2000);
  };
  if (!("EventSource" in window)) return fallBack();
  let ended = false;
  const connect = () => {
    if (ended) return;
    const es = new EventSource("/api/v1/events");
    es.addEventListener("status", (e) => {
      try {
        live.onStatus(JSON.parse(e.data));
        stopPolling();
        live.set({ mode: "live" });
      } catch { /* a bad frame: wait for the next */ }
    });
    es.addEventListener("audit", (e) => {
      try { live.set({ audit: [JSON.parse(e.data), ...live.audit].slice(0, 50) }); } catch { /* ignore */ }
    });
    // More audit records came than the feed replays: read the list again.
    es.addEventListener("reset", () => {
      api("GET", "/api/v1/audit?limit=20").then((a) => live.set({ audit: a.items })).catch(() => {});
    });
    // The server ended the feed for good (logged out, session expired,
    // admin right gone): stop, say so, and neither poll nor reconnect.
    es.addEventListener("end", (e) => {
      ended = true;
      es.close();
      stopPolling();
      let why = "the live feed ended";
      try { why = JSON.parse(e.data).error || why; } catch { /* keep the default */ }
      live.set({ mode: "ended", error: why });
    });
    // The stream failed (no endpoint, a proxy that breaks it, the server
    // restarting): poll instead, and try the stream again in 30 s.
    es.addEventListener("error", () => {
      if (ended) return;
      es.close();
      fallBack();
      setTimeout(connect, 30000);
    });
  };
  connect();
  // The first audit records come from the list; later ones from the stream.
  api("GET", "/api/v1/audit?limit=20").then((a) => {
    const seen = new Set(live.audit.map((r) => r.id));
    live.set({ audit: [...live.audit, ...a.items.filter((r) => !seen.has(r.id))].sort((x, y) => y.id - x.id).slice(0, 50) });
  }).catch(() => {});
}

function useLive() {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    live.listeners.add(l);
    return () => live.listeners.delete(l);
  }, []);
  return live;
}

// The peers of a status, each with its interface's group.
function peersOf(status) {
  const out = [];
  for (const i of status?.interfaces || []) for (const p of i.peers || []) out.push({ ...p, group: i.group, interface: i.name });
  return out;
}

// --- small parts ---------------------------------------------------------------------
function useLoad(fn, deps) {
  const [state, setState] = useState({ loading: true });
  const [n, reload] = useState(0);
  useEffect(() => {
    let gone = false;
    setState((s) => ({ ...s, loading: true }));
    fn().then((data) => !gone && setState({ data }), (e) => !gone && setState({ error: e.message }));
    return () => { gone = true; };
  }, [...deps, n]);
  return [state, () => reload((x) => x + 1)];
}

const Error_ = ({ text }) => (text ? html`<p class="error" role="alert">${text}</p>` : null);

function Loaded({ state, children }) {
  if (state.error) return html`<${Error_} text=${state.error} />`;
  if (!state.data) return html`<p class="muted">Loading…</p>`;
  return children(state.data);
}

// Keyset paging: a stack of cursors, so "previous" is the page seen before.
function usePager(resetKey) {
  const [stack, setStack] = useState([""]);
  useEffect(() => setStack([""]), [resetKey]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (c) => setStack([...stack, c]),
    prev: () => setStack(stack.slice(0, -1)),
  };
}

function Pager({ pager, next }) {
  return html`<div class="pager">
    <button disabled=${pager.page <= 1} onClick=${pager.prev}>← Previous</button>
    <span class="muted">page ${pager.page}</span>
    <button class="next" disabled=${!next} onClick=${() => pager.next(next)}>Next →</button>
  </div>`;
}

function StateBadge({ state }) {
  return html`<span class=${`badge state-${state}`}>${String(state).replace("_", " ")}</span>`;
}

// Revoking is one click and a confirmation in place (no modal dialog).
function RevokeButton({ keyRow, onDone }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState("");
  if (keyRow.state === "revoked" || keyRow.state === "expired" || keyRow.state === "superseded") return null;
  const revoke = async () => {
    setBusy(true);
    try {
      await api("POST", `/api/v1/keys/${keyRow.id}/revoke`);
      setAsking(false);
      onDone && onDone();
    } catch (e) {
      setErr(e.message);
    } finally {
      setBusy(false);
    }
  };
  if (!asking) return html`<button class="revoke danger" data-key-id=${keyRow.id} onClick=${() => setAsking(true)}>Revoke</button>`;
  return html`<span class="confirm">
    Revoke key ${keyRow.id} of ${keyRow.user}/${keyRow.device}?
    <button class="confirm-revoke danger" disabled=${busy} onClick=${revoke}>Yes, revoke</button>
    <button onClick=${() => setAsking(false)}>Cancel</button>
    <${Error_} text=${err} />
  </span>`;
}

function KeysTable({ items, onChange, showUser = true }) {
  if (!items.length) return html`<p class="muted">No keys.</p>`;
  return html`<table class="keys">
    <thead><tr><th>Key</th>${showUser && html`<th>Person</th>`}<th>Device</th><th>Address</th><th>Group</th>
      <th>State</th><th>Created</th><th>Expires</th><th>Last handshake</th><th></th></tr></thead>
    <tbody>${items.map((k) => html`<tr key=${k.id} data-key-id=${k.id}>
      <td class="mono">${k.id}</td>
      ${showUser && html`<td><a href=${`#/person/${encodeURIComponent(k.user)}`}>${k.user}</a></td>`}
      <td>${k.device}</td><td class="mono">${k.address || "—"}</td><td>${k.group}</td>
      <td class="key-state"><${StateBadge} state=${k.state} /></td>
      <td>${when(k.created_at)}</td><td>${when(k.expires_at)}</td><td>${ago(k.last_handshake_at)}</td>
      <td><${RevokeButton} keyRow=${k} onDone=${onChange} /></td>
    </tr>`)}</tbody>
  </table>`;
}

// --- pages ----------------------------------------------------------------------------
function Dashboard() {
  const l = useLive();
  const [alerts] = useLoad(() => api("GET", `/api/v1/alerts${qs({ status: "pending", limit: 100 })}`), []);
  const [failed] = useLoad(() => api("GET", `/api/v1/alerts${qs({ status: "failed", limit: 100 })}`), []);
  const now = Date.now() / 1000;
  const peers = peersOf(l.status);
  const prev = new Map(peersOf(l.prevStatus?.s).map((p) => [p.public_key, p]));
  const dt = l.prevStatus ? (l.statusAt - l.prevStatus.at) / 1000 : 0;
  const rate = (p) => {
    const q = prev.get(p.public_key);
    if (!q || dt <= 0) return null;
    return Math.max(0, (p.rx_bytes + p.tx_bytes - q.rx_bytes - q.tx_bytes) / dt);
  };
  const connected = peers.filter((p) => p.latest_handshake && now - p.latest_handshake < CONNECTED_WITHIN)
    .sort((a, b) => b.rx_bytes + b.tx_bytes - a.rx_bytes - a.tx_bytes);
  const recent = peers.filter((p) => p.latest_handshake).sort((a, b) => b.latest_handshake - a.latest_handshake).slice(0, 10);
  const perPerson = new Map();
  for (const p of peers) {
    const who = p.user || "(not wgate's)";
    const e = perPerson.get(who) || { who, rx: 0, tx: 0, devices: 0 };
    e.rx += p.rx_bytes; e.tx += p.tx_bytes; e.devices++;
    perPerson.set(who, e);
  }
  const people = [...perPerson.values()].sort((a, b) => b.rx + b.tx - a.rx - a.tx).slice(0, 20);
  const openAlerts = [...(alerts.data?.items || []), ...(failed.data?.items || [])];
  const ifaces = l.status?.interfaces || [];
  return html`<section>
    <h2>Dashboard</h2>
    <${Error_} text=${l.error} />
    <div class="cards">
      <div class="card"><div class="big" id="connected-count">${l.status ? connected.length : "…"}</div>connected now</div>
      <div class="card"><div class="big">${ifaces.filter((i) => i.up).length}/${ifaces.length}</div>interfaces up</div>
      <div class="card"><div class="big">${bytes(peers.reduce((s, p) => s + p.rx_bytes + p.tx_bytes, 0))}</div>through the tunnels</div>
      <div class="card"><div class="big">${openAlerts.length}${alerts.data?.next_cursor ? "+" : ""}</div>open alerts</div>
    </div>
    <h3>Connected now</h3>
    ${connected.length ? html`<table id="connected">
      <thead><tr><th>Person</th><th>Device</th><th>Group</th><th>Endpoint</th><th>Last handshake</th>
        <th class="num">Received</th><th class="num">Sent</th><th class="num">Rate</th></tr></thead>
      <tbody>${connected.slice(0, 100).map((p) => html`<tr key=${p.public_key} class="peer" data-user=${p.user} data-device=${p.device}>
        <td>${p.user ? html`<a href=${`#/person/${encodeURIComponent(p.user)}`}>${p.user}</a>` : html`<span class="muted">unknown key</span>`}</td>
        <td>${p.device || "—"}</td><td>${p.group}</td><td class="mono">${p.endpoint || "—"}</td>
        <td>${ago(p.latest_handshake)}</td>
        <td class="num rx" data-bytes=${p.rx_bytes}>${bytes(p.rx_bytes)}</td>
        <td class="num tx" data-bytes=${p.tx_bytes}>${bytes(p.tx_bytes)}</td>
        <td class="num">${rate(p) === null ? "—" : `${bytes(rate(p))}/s`}</td>
      </tr>`)}</tbody></table>
      ${connected.length > 100 ? html`<p class="muted">The 100 busiest of ${connected.length}.</p>` : null}`
    : html`<p class="muted">${l.status ? "Nobody is connected." : "Waiting for the data plane's status…"}</p>`}
    <div class="columns">
      <div>
        <h3>Recent handshakes</h3>
        <table><tbody>${recent.map((p) => html`<tr key=${p.public_key}><td>${p.user || "unknown key"}</td><td>${p.device}</td><td>${ago(p.latest_handshake)}</td></tr>`)}</tbody></table>
      </div>
      <div>
        <h3>Bytes per person</h3>
        <table id="per-person"><thead><tr><th>Person</th><th class="num">Devices</th><th class="num">Received</th><th class="num">Sent</th></tr></thead>
          <tbody>${people.map((e) => html`<tr key=${e.who}><td>${e.who}</td><td class="num">${e.devices}</td><td class="num">${bytes(e.rx)}</td><td class="num">${bytes(e.tx)}</td></tr>`)}</tbody></table>
      </div>
    </div>
    <h3>Open alerts</h3>
    ${openAlerts.length ? html`<table><thead><tr><th>When</th><th>Kind</th><th>Channel</th><th>Status</th><th>Attempts</th><th>Last error</th></tr></thead>
      <tbody>${openAlerts.slice(0, 20).map((a) => html`<tr key=${a.id}><td>${when(a.created_at)}</td><td>${a.kind}</td><td>${a.channel}</td>
        <td><span class=${`badge alert-${a.status}`}>${a.status}</span></td><td>${a.attempts}</td><td>${a.last_error}</td></tr>`)}</tbody></table>`
    : html`<p class="muted">None.</p>`}
    <h3>Latest activity</h3>
    <${AuditTable} items=${l.audit.slice(0, 15)} id="live-audit" />
  </section>`;
}

function People({ query }) {
  const [text, setText] = useState(query.get("q") || "");
  const [search, setSearch] = useState(text);
  // Searching as one types, a little after the last key.
  useEffect(() => { const t = setTimeout(() => setSearch(text.trim()), 250); return () => clearTimeout(t); }, [text]);
  const pager = usePager(search);
  const [state] = useLoad(() => api("GET", `/api/v1/people${qs({ name_prefix: search, limit: PAGE, cursor: pager.cursor })}`),
                          [search, pager.cursor]);
  return html`<section>
    <h2>People</h2>
    <div class="filters"><label>Name starts with <input id="people-search" type="search" value=${text}
      onInput=${(e) => setText(e.target.value)} placeholder="alice" autofocus /></label></div>
    <${Loaded} state=${state}>${(d) => html`
      <table id="people">
        <thead><tr><th>Name</th><th>Email</th><th>Address block</th><th>Groups</th><th class="num">Devices</th><th>Since</th></tr></thead>
        <tbody>${d.items.map((p) => html`<tr key=${p.name} class=${p.disabled ? "disabled" : ""}>
          <td><a href=${`#/person/${encodeURIComponent(p.name)}`}>${p.name}</a>${p.disabled ? html` <span class="badge state-revoked">disabled</span>` : null}</td>
          <td>${p.email}</td><td class="mono">${p.block || "—"}</td><td>${p.groups.join(", ")}</td>
          <td class="num">${p.devices.length}</td><td>${when(p.created_at)}</td></tr>`)}</tbody>
      </table>
      ${d.items.length ? null : html`<p class="muted">Nobody${search ? ` whose name starts with “${search}”` : ""}.</p>`}
      <${Pager} pager=${pager} next=${d.next_cursor} />`}<//>
  </section>`;
}

function Person({ name }) {
  const [person] = useLoad(() => api("GET", `/api/v1/people/${encodeURIComponent(name)}`), [name]);
  const [keys, reloadKeys] = useLoad(() => api("GET", `/api/v1/keys${qs({ user: name, limit: 100 })}`), [name]);
  return html`<section>
    <p><a href="#/people">← People</a></p>
    <${Loaded} state=${person}>${(p) => html`
      <h2 id="person-name">${p.name} ${p.disabled ? html`<span class="badge state-revoked">disabled</span>` : null}</h2>
      <dl class="facts">
        <dt>Email</dt><dd>${p.email || "—"}</dd>
        <dt>Address block</dt><dd class="mono" id="person-block">${p.block || "none"}</dd>
        <dt>Groups</dt><dd>${p.groups.length ? p.groups.join(", ") : "none"}</dd>
        <dt>Since</dt><dd>${when(p.created_at)}</dd>
      </dl>
      <h3>Devices</h3>
      ${p.devices.length ? html`<table><thead><tr><th>Device</th><th>Address</th></tr></thead>
        <tbody>${p.devices.map((d) => html`<tr key=${d.name}><td>${d.name}</td><td class="mono">${d.address || "—"}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">No devices.</p>`}`}<//>
    <h3>Keys</h3>
    <${Loaded} state=${keys}>${(k) => html`<${KeysTable} items=${k.items} onChange=${reloadKeys} showUser=${false} />
      ${k.next_cursor ? html`<p class="muted">The first 100; see <a href=${`#/keys?user=${encodeURIComponent(name)}`}>all keys</a>.</p>` : null}`}<//>
    <p class="links"><a href=${`#/audit?subject=${encodeURIComponent(name)}`}>Audit records about ${name}</a>
      <a href=${`#/flows?user=${encodeURIComponent(name)}`}>Flows of ${name}</a></p>
  </section>`;
}

const KEY_STATES = [["active", "Active"], ["never_activated", "Never activated"], ["expiring", "Expiring (24 h)"],
                    ["expired", "Expired"], ["revoked", "Revoked"]];

function Keys({ query }) {
  const state = query.get("state") || "active";
  const user = query.get("user") || "";
  const pager = usePager(state + "/" + user);
  const [n, bump] = useState(0);
  const [keys] = useLoad(() => api("GET", `/api/v1/keys${qs({ state, user, limit: PAGE, cursor: pager.cursor })}`),
                         [state, user, pager.cursor, n]);
  return html`<section>
    <h2>Keys${user ? ` of ${user}` : ""}</h2>
    <nav class="tabs">${KEY_STATES.map(([s, label]) => html`<a key=${s} class=${s === state ? "active" : ""}
      href=${`#/keys${qs({ state: s, user })}`} data-state=${s}>${label}</a>`)}</nav>
    <${Loaded} state=${keys}>${(d) => html`<${KeysTable} items=${d.items} onChange=${() => bump((x) => x + 1)} />
      <${Pager} pager=${pager} next=${d.next_cursor} />`}<//>
  </section>`;
}

function AuditTable({ items, id }) {
  if (!items.length) return html`<p class="muted">No records.</p>`;
  return html`<table id=${id} class="audit"><thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Subject</th><th>Detail</th></tr></thead>
    <tbody>${items.map((r) => html`<tr key=${r.id} data-action=${r.action}><td>${when(r.at)}</td><td>${r.actor}</td><td class="mono">${r.action}</td>
      <td>${r.subject}</td><td class="detail mono">${typeof r.detail === "string" ? r.detail : JSON.stringify(r.detail)}</td></tr>`)}</tbody></table>`;
}

// A filter form whose values live in the hash (so a filtered view can be
// linked and reloaded).
function Filters({ base, query, fields }) {
  const submit = (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target).entries());
    go(`${base}${qs(data)}`);
  };
  return html`<form class="filters" onSubmit=${submit}>
    ${fields.map(([name, label, extra]) => html`<label key=${name}>${label} ${extra?.options
      ? html`<select name=${name} value=${query.get(name) || ""}>${extra.options.map((o) => html`<option value=${o}>${o || "any"}</option>`)}</select>`
      : html`<input name=${name} value=${query.get(name) || ""} placeholder=${extra?.placeholder || ""} />`}</label>`)}
    <button type="submit">Search</button>
    <a class="button secondary" href=${base}>Clear</a>
  </form>`;
}

function Audit({ query }) {
  const filter = { actor: query.get("actor") || "", action: query.get("action") || "", subject: query.get("subject") || "" };
  const pager = usePager(JSON.stringify(filter));
  const [state, reload] = useLoad(() => api("GET", `/api/v1/audit${qs({ ...filter, limit: PAGE, cursor: pager.cursor })}`),
                                  [JSON.stringify(filter), pager.cursor]);
  // New records (live) since this page was read, for the first page.
  const l = useLive();
  const newest = state.data?.items?.[0]?.id || 0;
  const fresh = pager.page === 1 ? l.audit.filter((r) => r.id > newest).length : 0;
  return html`<section>
    <h2>Audit log</h2>
    <${Filters} base="#/audit" query=${query} fields=${[["actor", "Actor", { placeholder: "user:alice" }],
      ["action", "Action", { placeholder: "key. or key.revoke" }], ["subject", "Subject", { placeholder: "alice" }]]} />
    ${fresh ? html`<p><button onClick=${reload}>${fresh} new record${fresh > 1 ? "s" : ""}: show</button></p>` : null}
    <${Loaded} state=${state}>${(d) => html`<${AuditTable} items=${d.items} id="audit" /><${Pager} pager=${pager} next=${d.next_cursor} />`}<//>
  </section>`;
}

function Flows({ query }) {
  const filter = {};
  for (const k of ["user", "dst", "since", "until", "verdict"]) filter[k] = query.get(k) || "";
  const pager = usePager(JSON.stringify(filter));
  const [state] = useLoad(() => api("GET", `/api/v1/flows${qs({ ...filter, limit: PAGE, cursor: pager.cursor })}`),
                          [JSON.stringify(filter), pager.cursor]);
  return html`<section>
    <h2>Flows</h2>
    <${Filters} base="#/flows" query=${query} fields=${[["user", "Person"], ["dst", "Destination", { placeholder: "10.0.0.0/8" }],
      ["since", "Since", { placeholder: "2026-12-01T08:00Z" }], ["until", "Until", { placeholder: "now" }],
      ["verdict", "Verdict", { options: ["", "allow", "deny"] }]]} />
    <${Loaded} state=${state}>${(d) => html`${d.items.length ? html`<table id="flows"><thead><tr><th>When</th><th>Person</th><th>Device</th>
        <th>Source</th><th>Destination</th><th>Protocol</th><th>Verdict</th><th>Reason</th></tr></thead>
      <tbody>${d.items.map((f) => html`<tr key=${f.id}><td>${when(f.at)}</td><td>${f.user || "—"}</td><td>${f.device || "—"}</td>
        <td class="mono">${f.source}${f.source_port ? `:${f.source_port}` : ""}</td>
        <td class="mono">${f.destination}${f.destination_port ? `:${f.destination_port}` : ""}</td><td>${f.protocol}</td>
        <td><span class=${`badge verdict-${f.verdict}`}>${f.verdict}</span></td><td>${f.reason}</td></tr>`)}</tbody></table>`
      : html`<p class="muted" id="flows-empty">No flows match.</p>`}<${Pager} pager=${pager} next=${d.next_cursor} />`}<//>
  </section>`;
}

// A datetime-local value ("2026-12-01T09:30", local time) as RFC 3339 UTC.
const localToRfc3339 = (v) => (v ? new Date(v).toISOString().replace(/\.\d{3}Z$/, "Z") : "");
const nowLocal = () => {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
};

function Whois({ query }) {
  const ip = query.get("ip") || "";
  const at = query.get("at") || "";
  const [state] = useLoad(() => (ip ? api("GET", `/api/v1/whois${qs({ ip, at: localToRfc3339(at) })}`) : Promise.resolve(null)), [ip, at]);
  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    go(`#/whois${qs({ ip: f.get("ip"), at: f.get("at") })}`);
  };
  return html`<section>
    <h2>Whois</h2>
    <p class="muted">Who held an address, now or at a moment in the past.</p>
    <form class="filters" onSubmit=${submit}>
      <label>Address <input name="ip" id="whois-ip" value=${ip} required placeholder="100.64.0.2" /></label>
      <label>At <input name="at" id="whois-at" type="datetime-local" step="1" value=${at || nowLocal()} /></label>
      <button type="submit">Look up</button>
    </form>
    ${ip ? html`<${Loaded} state=${state}>${(w) => w && html`<div id="whois-answer">
      <p class="answer">${w.user ? html`<strong>${w.user}</strong>${w.device ? html` · device <strong>${w.device}</strong>` : null} held
        <span class="mono">${w.address}</span> at ${w.at_utc}` : html`Nobody held <span class="mono">${w.address}</span> at ${w.at_utc}.`}</p>
      ${w.user ? html`<dl class="facts"><dt>Email</dt><dd>${w.email}</dd><dt>Block</dt><dd class="mono">${w.block}</dd>
        <dt>Lease</dt><dd>${when(w.lease_from)} – ${w.lease_until ? when(w.lease_until) : "now"}</dd></dl>` : null}
      ${w.history.length ? html`<h3>History of this address</h3><table><thead><tr><th>Person</th><th>Block</th><th>From</th><th>Until</th></tr></thead>
        <tbody>${w.history.map((h, i) => html`<tr key=${i}><td>${h.user}</td><td class="mono">${h.block}</td><td>${when(h.from)}</td><td>${h.until ? when(h.until) : "now"}</td></tr>`)}</tbody></table>` : null}
    </div>`}<//>` : null}
  </section>`;
}

// The API's config_warning: this answer comes from a config the daemon does
// not run (edited without SIGHUP, or a reload it refused).
function ConfigWarning({ answer }) {
  return answer && answer.config_warning ? html`<p class="error config-warning">${answer.config_warning}</p>` : null;
}

function Explain({ query }) {
  const target = query.get("target") || "";
  const destination = query.get("destination") || "";
  const service = query.get("service") || "";
  const [state] = useLoad(() => (target && destination ? api("GET", `/api/v1/explain${qs({ target, destination, service })}`)
                                                       : Promise.resolve(null)), [target, destination, service]);
  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    go(`#/explain${qs(Object.fromEntries(f.entries()))}`);
  };
  return html`<section>
    <h2>Explain</h2>
    <p class="muted">Whether a person (or a device address) reaches a destination, and which step decides.</p>
    <form class="filters" onSubmit=${submit}>
      <label>Person or address <input name="target" id="explain-target" value=${target} required placeholder="alice" /></label>
      <label>Destination <input name="destination" id="explain-destination" value=${destination} required placeholder="10.1.0.5" /></label>
      <label>Service <input name="service" value=${service} placeholder="tcp/5432, udp/53, icmp" /></label>
      <button type="submit">Explain</button>
    </form>
    ${target && destination ? html`<${Loaded} state=${state}>${(e) => e && html`<div id="explain-answer">
      <${ConfigWarning} answer=${e} />
      <p class=${`answer ${e.allowed ? "allowed" : "denied"}`}>${e.allowed ? "Allowed" : "Denied"}: ${e.summary}</p>
      ${e.devices.map((d) => html`<div class="device" key=${d.device}>
        <h3>${d.device} <span class="mono muted">${d.address || ""}</span> ${d.allowed ? html`<span class="badge verdict-allow">allowed</span>` : html`<span class="badge verdict-deny">denied</span>`}</h3>
        <ol class="steps">${d.steps.map((s) => html`<li key=${s.step} class=${`${s.passed ? "passed" : "failed"} ${s.step === d.deciding_step ? "deciding" : ""}`}>
          <span class="step">${s.step}</span> ${s.passed ? "✓" : "✗"} <span class="muted">${s.detail}</span>
          ${s.step === d.deciding_step ? html` <strong class="decides">← decides</strong>` : null}</li>`)}</ol>
        ${d.rule ? html`<p class="muted">Rule: <span class="mono">${d.rule}</span></p>` : null}
      </div>`)}
    </div>`}<//>` : null}
  </section>`;
}

function Plan() {
  const [state] = useLoad(() => api("GET", "/api/v1/plan"), []);
  return html`<section>
    <h2>Plan</h2>
    <p class="muted">What the daemon would put in place now, from the config and the store: interfaces, peers, routes and filter.
      Change the config or a person, then look here before the daemon reloads.</p>
    <${Loaded} state=${state}>${(p) => html`<div id="plan">
      <${ConfigWarning} answer=${p} />
      ${p.warnings.length ? html`<ul class="warnings">${p.warnings.map((w, i) => html`<li key=${i} class="error">${w}</li>`)}</ul>` : null}
      <p>IPv4 forwarding: ${p.ipv4_forwarding ? "on" : "off"}</p>
      ${p.interfaces.map((i) => html`<div key=${i.name}>
        <h3>${i.name} <span class="muted">group ${i.group}, port ${i.port}, table ${i.table}</span></h3>
        <p>Reaches <span class="mono">${i.reachable.join(", ") || "nothing"}</span> · ${i.peers.length} peer${i.peers.length === 1 ? "" : "s"}</p>
        ${i.peers.length ? html`<table><thead><tr><th>Person</th><th>Device</th><th>Address</th><th>Key</th></tr></thead>
          <tbody>${i.peers.slice(0, 100).map((peer) => html`<tr key=${peer.public_key}><td>${peer.user}</td><td>${peer.device}</td>
            <td class="mono">${peer.allowed_ip}</td><td class="mono">${peer.key_id}</td></tr>`)}</tbody></table>
          ${i.peers.length > 100 ? html`<p class="muted">The first 100 of ${i.peers.length}.</p>` : null}` : null}
      </div>`)}
      <h3>Routes</h3><ul class="mono">${p.routes.map((r, i) => html`<li key=${i}>${r}</li>`)}</ul>
      <h3>Rules</h3><ul class="mono">${p.rules.map((r, i) => html`<li key=${i}>${r}</li>`)}</ul>
      <h3>Firewall</h3>
      <dl class="facts"><dt>Protected networks</dt><dd class="mono">${p.firewall.protected_networks.join(", ") || "—"}</dd>
        <dt>Person pools</dt><dd class="mono">${p.firewall.user_pools.join(", ") || "—"}</dd>
        <dt>Open to people</dt><dd class="mono">${p.firewall.open_to_users.join(", ") || "—"}</dd></dl>
    </div>`}<//>
  </section>`;
}

// --- the frame ------------------------------------------------------------------------
const NAV = [["", "Dashboard"], ["people", "People"], ["keys", "Keys"], ["audit", "Audit"], ["flows", "Flows"],
             ["whois", "Whois"], ["explain", "Explain"], ["plan", "Plan"]];

function LiveBadge() {
  const l = useLive();
  const label = { live: "live", polling: "live (polling)", connecting: "connecting…", ended: "not live" }[l.mode];
  return html`<span id="live" class=${`live ${l.mode}`} data-mode=${l.mode}
    title=${l.mode === "polling" ? "The event stream is unavailable: reading the status every 2 s" : "Server-sent events"}>${label}</span>`;
}

function App({ me }) {
  const route = useRoute();
  const [page, arg] = route.path;
  const body = (() => {
    switch (page || "") {
      case "": return html`<${Dashboard} />`;
      case "people": return html`<${People} query=${route.query} />`;
      case "person": return html`<${Person} name=${arg} key=${arg} />`;
      case "keys": return html`<${Keys} query=${route.query} />`;
      case "audit": return html`<${Audit} query=${route.query} />`;
      case "flows": return html`<${Flows} query=${route.query} />`;
      case "whois": return html`<${Whois} query=${route.query} />`;
      case "explain": return html`<${Explain} query=${route.query} />`;
      case "plan": return html`<${Plan} />`;
      default: return html`<p class="error">No page “${page}”. <a href="#/">Dashboard</a></p>`;
    }
  })();
  const current = page === "person" ? "people" : page || "";
  return html`<header>
      <h1><a href="#/">wgate</a> <span class="muted">admin</span></h1>
      <nav id="nav">${NAV.map(([p, label]) => html`<a key=${p} href=${`#/${p}`} class=${current === p ? "active" : ""}>${label}</a>`)}
        <a href="/self" id="self-link">Your devices</a></nav>
      <div class="who"><${LiveBadge} /> <span id="who">${me.user}</span>
        <form method="post" action="/auth/logout"><input type="hidden" name="csrf_token" value=${me.csrf_token} /><button type="submit">Log out</button></form>
      </div>
    </header>
    <main>${body}</main>`;
}

async function main() {
  const root = document.getElementById("app");
  try {
    // The session's CSRF token, sent with every call that changes state.
    const me = await api("GET", "/api/v1/self");
    csrf = me.csrf_token || "";
    startLive();
    root.replaceChildren();  // the "Loading…" placeholder (render would keep it)
    render(html`<${App} me=${me} />`, root);
  } catch (e) {
    root.replaceChildren();
    render(html`<main><p class="error">${e.message}</p></main>`, root);
  }
}

main();
