// The admin API against docs/openapi.yaml, on a running `wgate web`
// (tests/api/api_test.sh starts it on a temporary store).
//
// Every operation of the spec is called; every answer must be a status the
// spec lists for that operation, with a body its schema accepts (ajv,
// JSON Schema 2020-12 as OpenAPI 3.1 uses). Then bad input on every
// operation: no credentials, a read token on writes, unknown query
// parameters, bad cursors and limits, wrong body types, unknown fields, a
// non-JSON body, a huge body, a wrong method: each a clear 4xx JSON error,
// never a 5xx. A non-admin session gets 403 everywhere; an admin cookie
// session needs the CSRF token on writes.
//
// env: WGATE_API (base URL), TOKEN_WRITE, TOKEN_READ, SESSION_ADMIN,
// SESSION_ADMIN_CSRF, SESSION_USER, SPEC (path of openapi.yaml)
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const base = process.env.WGATE_API;
const spec = YAML.parse(readFileSync(process.env.SPEC, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'spec', components: spec.components });

let failures = 0;
let checks = 0;
function fail(msg) {
  failures++;
  console.error('FAIL: ' + msg);
}
function expect(cond, msg) {
  checks++;
  if (!cond) fail(msg);
}

// Spec references are local ("#/components/..."): rebase them on the
// schema registered above.
function rebase(schema) {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"spec#/components/'));
}
function resolve(obj) {
  if (obj && obj.$ref) {
    const path = obj.$ref.replace('#/', '').split('/');
    let o = spec;
    for (const p of path) o = o[p];
    return o;
  }
  return obj;
}

const exercised = new Set();
const validators = new Map();
function opOf(method, template) {
  const item = spec.paths[template];
  if (!item) return null;
  return item[method.toLowerCase()] || null;
}

// Calls the API; checks the answer against the operation `template` names.
async function call(method, template, { params = {}, query = '', body, token = process.env.TOKEN_WRITE, cookie,
  headers = {}, raw } = {}) {
  let path = template;
  for (const [k, v] of Object.entries(params)) path = path.replace(`{${k}}`, encodeURIComponent(v));
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (cookie) h.Cookie = `wgate_session=${cookie}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(base + path + (query ? '?' + query : ''), { method, headers: h, body: payload });
  const text = await res.text();
  const where = `${method} ${path}${query ? '?' + query : ''}`;
  let json = null;
  if (res.status !== 204) {
    expect((res.headers.get('content-type') || '').startsWith('application/json'),
      `${where}: ${res.status} is not JSON (${res.headers.get('content-type')}): ${text.slice(0, 200)}`);
    try { json = JSON.parse(text); } catch { fail(`${where}: body does not parse: ${text.slice(0, 200)}`); }
  }
  expect(res.status < 500 || (template === '/api/v1/status' && res.status === 503),
    `${where}: ${res.status} ${text.slice(0, 300)}`);
  expect(res.headers.get('cache-control') === 'no-store', `${where}: no Cache-Control: no-store`);
  const op = opOf(method, template);
  if (op) {
    exercised.add(`${method} ${template}`);
    const r = op.responses[String(res.status)];
    expect(r, `${where}: status ${res.status} is not in the spec (${Object.keys(op.responses)}): ${text.slice(0, 200)}`);
    if (r && json !== null) {
      const media = resolve(r).content?.['application/json'];
      expect(media, `${where}: the spec gives ${res.status} no JSON body`);
      if (media) {
        const key = `${method} ${template} ${res.status}`;
        if (!validators.has(key)) validators.set(key, ajv.compile(rebase(media.schema)));
        const validate = validators.get(key);
        expect(validate(json), `${where}: ${res.status} does not match its schema: ${ajv.errorsText(validate.errors)}\n` +
          text.slice(0, 400));
      }
    }
  }
  return { status: res.status, json, text, headers: res.headers };
}

function status(r, want, what) {
  expect(r.status === want, `${what}: want ${want}, got ${r.status}: ${r.text.slice(0, 300)}`);
  return r;
}
function errorNames(r, word, what) {
  expect(r.json && typeof r.json.error === 'string' && r.json.error.toLowerCase().includes(word.toLowerCase()),
    `${what}: the error should name '${word}': ${r.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------
// 1. Every operation, with good input.
// ---------------------------------------------------------------------------

// People: add several, page through them.
for (let i = 0; i < 7; i++) {
  status(await call('POST', '/api/v1/people', { body: { name: `p${i}`, email: `p${i}@example.com`, groups: ['dev'] } }),
    201, 'add person');
}
let r = status(await call('POST', '/api/v1/people', { body: { name: 'carol', groups: ['dev', 'ops'] } }), 201, 'add carol');
expect(r.json.name === 'carol' && r.json.block, 'carol has a block');
status(await call('POST', '/api/v1/people', { body: { name: 'carol' } }), 409, 'add carol twice');

const names = [];
let cursor = '';
let pages = 0;
for (;;) {
  r = status(await call('GET', '/api/v1/people', { query: `limit=3${cursor ? '&cursor=' + cursor : ''}` }), 200, 'people page');
  pages++;
  names.push(...r.json.items.map((p) => p.name));
  if (!r.json.next_cursor) break;
  cursor = encodeURIComponent(r.json.next_cursor);
  if (pages > 50) { fail('people pages do not end'); break; }
}
expect(JSON.stringify(names) === JSON.stringify([...names].sort()) && new Set(names).size === names.length,
  `people pages: each once, by name: ${names}`);
expect(names.includes('alice') && names.includes('carol') && names.includes('p6'), `people pages hold all: ${names}`);
r = status(await call('GET', '/api/v1/people', { query: 'group=ops&name_prefix=ca&disabled=false' }), 200, 'people filters');
expect(r.json.items.length === 1 && r.json.items[0].name === 'carol', 'people filters find carol only');

r = status(await call('GET', '/api/v1/people/{name}', { params: { name: 'alice' } }), 200, 'get alice');
expect(r.json.devices.length === 2, 'alice has her two devices');
status(await call('GET', '/api/v1/people/{name}', { params: { name: 'nobody' } }), 404, 'get nobody');
r = status(await call('GET', '/api/v1/people/{name}/devices', { params: { name: 'alice' } }), 200, 'alice devices');
expect(r.json.items.every((d) => d.user === 'alice' && d.address), 'each device is self-contained');

r = status(await call('POST', '/api/v1/people/{name}/disable', { params: { name: 'p1' } }), 200, 'disable p1');
expect(r.json.disabled === true && r.json.block === null, 'p1 disabled, block released');
status(await call('POST', '/api/v1/people/{name}/disable', { params: { name: 'p1' } }), 409, 'disable p1 again');
r = status(await call('POST', '/api/v1/people/{name}/enable', { params: { name: 'p1' } }), 200, 'enable p1');
expect(r.json.disabled === false && r.json.block, 'p1 enabled');
r = status(await call('PUT', '/api/v1/people/{name}/groups/{group}', { params: { name: 'p2', group: 'ops' } }), 200,
  'p2 joins ops');
expect(r.json.groups.includes('ops'), 'p2 in ops');
r = status(await call('DELETE', '/api/v1/people/{name}/groups/{group}', { params: { name: 'p2', group: 'ops' } }), 200,
  'p2 leaves ops');
expect(!r.json.groups.includes('ops'), 'p2 out of ops');
status(await call('PUT', '/api/v1/people/{name}/groups/{group}', { params: { name: 'p2', group: 'nope' } }), 404,
  'unknown group');

r = status(await call('GET', '/api/v1/groups'), 200, 'groups');
expect(r.json.items.some((g) => g.name === 'dev' && g.members.includes('alice')), 'alice in dev');

// Keys: alice has an old (superseded) and a new key on her laptop, one on her phone.
const keys = [];
cursor = '';
for (let i = 0; i < 20; i++) {
  r = status(await call('GET', '/api/v1/keys', { query: `limit=1${cursor ? '&cursor=' + cursor : ''}` }), 200, 'keys page');
  keys.push(...r.json.items);
  if (!r.json.next_cursor) break;
  cursor = encodeURIComponent(r.json.next_cursor);
}
expect(keys.length === 3, `three keys: ${keys.length}`);
expect(keys.filter((k) => k.state === 'superseded').length === 1, 'one superseded key');
for (const state of ['active', 'never_activated', 'expiring', 'expired', 'revoked', 'superseded']) {
  r = status(await call('GET', '/api/v1/keys', { query: `state=${state}&user=alice&expiring_within=600` }), 200,
    `keys ${state}`);
  if (state !== 'expiring') expect(r.json.items.every((k) => k.state === state), `keys ${state} are ${state}`);
}
r = await call('GET', '/api/v1/keys', { query: 'state=never_activated' });
const toRevoke = r.json.items[0].id;
r = status(await call('POST', '/api/v1/keys/{id}/revoke', { params: { id: toRevoke } }), 200, 'revoke key');
expect(r.json.state === 'revoked', 'key revoked');
status(await call('POST', '/api/v1/keys/{id}/revoke', { params: { id: toRevoke } }), 409, 'revoke again');
status(await call('POST', '/api/v1/keys/{id}/revoke', { params: { id: 999999 } }), 404, 'revoke unknown key');
status(await call('POST', '/api/v1/keys/{id}/revoke', { params: { id: 'x1' } }), 400, 'revoke non-numeric id');
r = status(await call('GET', '/api/v1/keys', { query: 'state=revoked' }), 200, 'revoked keys');
expect(r.json.items.some((k) => k.id === toRevoke), 'the revoked key is listed as revoked');

status(await call('DELETE', '/api/v1/people/{name}/devices/{device}', { params: { name: 'alice', device: 'phone' } }),
  204, 'remove device');
status(await call('DELETE', '/api/v1/people/{name}/devices/{device}', { params: { name: 'alice', device: 'phone' } }),
  404, 'remove device again');

r = status(await call('GET', '/api/v1/leases', { query: 'limit=2' }), 200, 'leases');
expect(r.json.items.length === 2 && r.json.next_cursor, 'leases paged');
r = status(await call('GET', '/api/v1/leases', { query: 'user=p1' }), 200, 'p1 leases');
expect(r.json.items.length >= 2 && r.json.items.some((l) => !l.current), 'p1: an ended lease and a current one');
r = status(await call('GET', '/api/v1/leases', { query: 'current=true&limit=500' }), 200, 'current leases');
expect(r.json.items.every((l) => l.current && l.until === null), 'current leases only');

r = status(await call('GET', '/api/v1/audit', { query: 'limit=5' }), 200, 'audit');
expect(r.json.items.length === 5 && r.json.next_cursor, 'audit paged');
const ids = r.json.items.map((a) => a.id);
expect(ids.every((id, i) => i === 0 || id < ids[i - 1]), 'audit newest first');
r = status(await call('GET', '/api/v1/audit', { query: 'actor=token:ci-write&action=key.revoke' }), 200, 'audit filter');
expect(r.json.items.length === 1 && r.json.items[0].subject === 'alice', 'the revoke is audited with the token as actor');
r = status(await call('GET', '/api/v1/audit', { query: 'action=user.' }), 200, 'audit prefix');
expect(r.json.items.length > 0 && r.json.items.every((a) => a.action.startsWith('user.')), 'audit action prefix');

r = status(await call('GET', '/api/v1/flows'), 200, 'flows');
expect(r.json.items.length === 3 && r.json.items[0].destination_port === 53 && r.json.items[0].user === null,
  'flows: all three, newest first, the unknown source without a person');
r = status(await call('GET', '/api/v1/flows', { query: 'user=alice&verdict=deny' }), 200, 'flows of alice, denied');
expect(r.json.items.length === 1 && r.json.items[0].destination_port === 5432 && r.json.items[0].device === 'laptop',
  "flows: alice's dropped tcp/5432");
r = status(await call('GET', '/api/v1/flows', { query: 'dst=' + encodeURIComponent('10.1.0.0/16') }), 200, 'flows by prefix');
expect(r.json.items.length === 2 && r.json.items.every((f) => f.destination === '10.1.2.3'), 'flows: by destination prefix');
r = status(await call('GET', '/api/v1/flows', { query: 'limit=2' }), 200, 'flows page 1');
const firstFlows = r.json.items.map((f) => f.id);
expect(firstFlows.length === 2 && r.json.next_cursor, 'flows: paged');
r = status(await call('GET', '/api/v1/flows', { query: 'limit=2&cursor=' + encodeURIComponent(r.json.next_cursor) }), 200, 'flows page 2');
expect(r.json.items.length === 1 && !firstFlows.includes(r.json.items[0].id) && r.json.next_cursor === null,
  'flows: the second page holds the rest, no repeat');
status(await call('GET', '/api/v1/flows', { query: 'since=' + encodeURIComponent('2999-01-01T00:00:00Z') }), 200, 'flows since');
r = status(await call('GET', '/api/v1/flows', { query: 'dst=nonsense' }), 400, 'flows: a bad destination');
r = status(await call('GET', '/api/v1/flows', { query: 'verdict=maybe' }), 400, 'flows: a bad verdict');
r = status(await call('GET', '/api/v1/flows', { query: 'since=yesterday-ish' }), 400, 'flows: a bad time');

r = status(await call('GET', '/api/v1/alerts', { query: 'limit=1' }), 200, 'alerts');
r = status(await call('GET', '/api/v1/alerts', { query: 'status=pending' }), 200, 'pending alerts');

r = status(await call('GET', '/api/v1/whois', { query: 'ip=' + encodeURIComponent(keys[0].address ?? '10.100.0.1') }),
  200, 'whois');
status(await call('GET', '/api/v1/whois', { query: 'ip=10.100.0.1&at=2026-01-01T00:00:00Z' }), 200, 'whois at');
status(await call('GET', '/api/v1/whois', { query: 'ip=not-an-ip' }), 400, 'whois bad ip');
status(await call('GET', '/api/v1/whois', { query: 'ip=10.100.0.1&at=yesterday-ish' }), 400, 'whois bad time');
status(await call('GET', '/api/v1/whois'), 400, 'whois without ip');
r = status(await call('GET', '/api/v1/explain', { query: 'target=alice&destination=10.1.2.3&service=tcp/5432' }), 200,
  'explain');
status(await call('GET', '/api/v1/explain', { query: 'target=alice&destination=10.1.2.3&service=tcp/99999' }), 400,
  'explain bad port');
status(await call('GET', '/api/v1/explain', { query: 'target=alice' }), 400, 'explain without destination');
r = status(await call('GET', '/api/v1/plan'), 200, 'plan');
expect(!r.text.includes('private'), 'the plan holds no private key');
expect(r.json.config_warning === undefined, 'no config_warning while no daemon recorded another config');
// A daemon that runs another config (its record in state_dir): the answers say so.
writeFileSync(`${process.env.STATE_DIR}/running-config`, `sha256 ${'0'.repeat(64)}\nloaded_at 1764590000\n`);
r = status(await call('GET', '/api/v1/explain', { query: 'target=alice&destination=10.1.2.3' }), 200, 'explain, other config');
expect(/differs from the one the daemon runs/.test(r.json.config_warning ?? ''), `explain warns: ${r.json.config_warning}`);
r = status(await call('GET', '/api/v1/plan'), 200, 'plan, other config');
expect(/SIGHUP/.test(r.json.config_warning ?? ''), `plan warns: ${r.json.config_warning}`);
unlinkSync(`${process.env.STATE_DIR}/running-config`);
r = await call('GET', '/api/v1/status');
expect(r.status === 200 || r.status === 503, `status: 200 or 503 (no data plane here): ${r.status}`);

// Tokens.
r = status(await call('POST', '/api/v1/tokens', { body: { name: 'ui-read', scope: 'read', ttl: '1h' } }), 201, 'token');
const uiRead = r.json.token;
expect(/^wgat_/.test(uiRead), 'the secret is shown once');
r = status(await call('GET', '/api/v1/tokens'), 200, 'token list');
expect(!r.text.includes(uiRead) && !r.text.includes(process.env.TOKEN_WRITE), 'no secret in the token list');
expect(r.json.items.some((t) => t.name === 'ui-read' && t.created_by === 'token:ci-write'), 'token made by token:ci-write');
status(await call('GET', '/api/v1/groups', { token: uiRead }), 200, 'new read token works');
status(await call('POST', '/api/v1/tokens', { body: { name: 'ui-read' } }), 409, 'token name taken');
status(await call('POST', '/api/v1/tokens/{name}/revoke', { params: { name: 'ui-read' } }), 204, 'revoke token');
status(await call('GET', '/api/v1/groups', { token: uiRead }), 401, 'revoked token refused');
status(await call('POST', '/api/v1/tokens/{name}/revoke', { params: { name: 'ui-read' } }), 409, 'revoke token again');
status(await call('POST', '/api/v1/tokens/{name}/revoke', { params: { name: 'ghost' } }), 404, 'revoke unknown token');

// The live feed (GET /api/v1/events, Server-Sent Events): read as a
// stream, event by event, each within a bounded time.
async function openEvents({ token = process.env.TOKEN_WRITE, cookie, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (cookie) h.Cookie = `wgate_session=${cookie}`;
  const ctrl = new AbortController();
  const res = await fetch(base + '/api/v1/events', { headers: h, signal: ctrl.signal });
  exercised.add('GET /api/v1/events');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let pending = null;
  let ended = false;
  // The next event ({event, id, data, comments}), 'end' when the server
  // closed the stream, or null after `ms` without one.
  async function next(ms = 8000) {
    const until = Date.now() + ms;
    const comments = [];
    for (;;) {
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const ev = { event: 'message', id: null, data: [], comments };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) { comments.push(line); continue; }
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') ev.event = value;
          else if (field === 'id') ev.id = value;
          else if (field === 'data') ev.data.push(value);
        }
        if (ev.data.length === 0) continue;  // a comment only
        ev.data = ev.data.join('\n');
        return ev;
      }
      if (ended) return 'end';
      const left = until - Date.now();
      if (left <= 0) return null;
      pending ??= reader.read();
      const got = await Promise.race([pending, new Promise((r) => setTimeout(() => r('timeout'), left))]);
      if (got === 'timeout') return null;
      pending = null;
      if (got.done) ended = true;
      else buffer += decoder.decode(got.value, { stream: true });
    }
  }
  // The next event named `name` (others skipped), within `ms`.
  async function nextOf(name, ms = 8000) {
    const until = Date.now() + ms;
    for (;;) {
      const ev = await next(Math.max(1, until - Date.now()));
      if (ev === null || ev === 'end' || ev.event === name) return ev;
    }
  }
  return { res, next, nextOf, close: () => ctrl.abort() };
}
const validateAudit = ajv.compile(rebase({ $ref: '#/components/schemas/AuditRecord' }));
const validateStatus = ajv.compile(rebase({ $ref: '#/components/schemas/Status' }));
{
  const feed = await openEvents();
  status({ status: feed.res.status, text: '' }, 200, 'events');
  expect((feed.res.headers.get('content-type') || '').startsWith('text/event-stream'), 'events: text/event-stream');
  expect(feed.res.headers.get('cache-control') === 'no-store', 'events: Cache-Control: no-store');
  expect(feed.res.headers.get('content-security-policy'), 'events: the security headers');
  expect(!feed.res.headers.get('content-length'), 'events: no Content-Length');
  // At connect: a status, with the data the status call answers.
  let ev = await feed.next();
  expect(ev && ev.event === 'status', `events: a status first: ${JSON.stringify(ev)}`);
  const statusData = ev && ev.data ? JSON.parse(ev.data) : {};
  const direct = await call('GET', '/api/v1/status');
  expect(direct.status === 503 ? statusData.error === direct.json.error : validateStatus(statusData),
    `events: the status event is what /api/v1/status answers: ${ev?.data}`);
  expect(/^[0-9]+$/.test(ev?.id ?? ''), 'events: the status carries the audit cursor as id');
  const cursorAtStart = Number(ev?.id);
  // An admin action: its audit record arrives, in /api/v1/audit's shape.
  r = status(await call('POST', '/api/v1/tokens', { body: { name: 'sse-read', scope: 'read', ttl: '1h' } }), 201,
    'token for the feed');
  const sseRead = r.json.token;
  ev = await feed.nextOf('audit');
  expect(ev && ev.event === 'audit', `events: an audit event after a change: ${JSON.stringify(ev)}`);
  const rec = ev?.data ? JSON.parse(ev.data) : {};
  expect(validateAudit(rec), `events: the audit event's data is an AuditRecord: ${ajv.errorsText(validateAudit.errors)}`);
  expect(rec.action === 'token.create' && rec.subject === 'token:sse-read' && rec.actor === 'token:ci-write',
    `events: the record of the change: ${ev?.data}`);
  expect(ev?.id === String(rec.id) && rec.id > cursorAtStart, 'events: the audit event id is the record id');
  r = status(await call('GET', '/api/v1/audit', { query: 'limit=1&action=token.create' }), 200, 'audit of the token');
  expect(JSON.stringify(r.json.items[0]) === JSON.stringify(rec), 'events: the same JSON as GET /api/v1/audit');
  // And the next status follows within the interval.
  ev = await feed.nextOf('status', 5000);
  expect(ev && ev.event === 'status' && ev.id === String(rec.id), `events: status every interval: ${JSON.stringify(ev)}`);
  feed.close();

  // A reconnect with Last-Event-ID gets what it missed, none lost.
  const again = await openEvents({ headers: { 'Last-Event-ID': String(cursorAtStart) } });
  ev = await again.nextOf('audit');
  expect(ev && ev.id === String(rec.id), `events: catch-up after Last-Event-ID: ${JSON.stringify(ev)}`);
  again.close();
  status(await call('GET', '/api/v1/events', { headers: { 'Last-Event-ID': 'abc' } }), 400, 'events: a bad Last-Event-ID');

  // No credentials: 401; a non-admin: 403 (JSON, before any stream).
  status(await call('GET', '/api/v1/events', { token: null }), 401, 'events without credentials');
  status(await call('GET', '/api/v1/events', { token: null, cookie: process.env.SESSION_USER }), 403, 'events non-admin');
  // An admin's cookie session streams too (a GET: no CSRF token needed).
  const byCookie = await openEvents({ token: null, cookie: process.env.SESSION_ADMIN });
  expect(byCookie.res.status === 200, `events by cookie: ${byCookie.res.status}`);
  ev = await byCookie.next();
  expect(ev && ev.event === 'status', 'events by cookie: a status');
  byCookie.close();

  // A read token streams; revoking it ends its stream with an "end" event.
  const byToken = await openEvents({ token: sseRead });
  expect(byToken.res.status === 200, `events with a read token: ${byToken.res.status}`);
  ev = await byToken.next();
  expect(ev && ev.event === 'status', 'events with a read token: a status');
  status(await call('POST', '/api/v1/tokens/{name}/revoke', { params: { name: 'sse-read' } }), 204, 'revoke the feed token');
  ev = await byToken.nextOf('end');
  expect(ev && ev.event === 'end' && JSON.parse(ev.data).error, `events: a revoked token's stream ends: ${JSON.stringify(ev)}`);
  expect(await byToken.next(5000) === 'end', 'events: the server closes after the end event');
}

// ---------------------------------------------------------------------------
// 2. Bad input on every operation.
// ---------------------------------------------------------------------------
const sample = { name: 'p3', group: 'dev', device: 'laptop', id: '1' };
const ops = [];
for (const [template, item] of Object.entries(spec.paths)) {
  for (const method of ['get', 'post', 'put', 'delete']) {
    if (item[method]) ops.push({ method: method.toUpperCase(), template, op: item[method] });
  }
}
for (const { method, template, op } of ops) {
  const what = `${method} ${template}`;
  const write = method !== 'GET';
  // No credentials, a bad scheme, a wrong token: 401.
  r = status(await call(method, template, { params: sample, token: null }), 401, `${what} without credentials`);
  expect(r.headers.get('www-authenticate')?.startsWith('Bearer'), `${what}: WWW-Authenticate`);
  status(await call(method, template, { params: sample, token: null, headers: { Authorization: 'Basic YTpi' } }), 401,
    `${what} Basic auth`);
  status(await call(method, template, { params: sample, token: 'wgat_' + 'A'.repeat(43) }), 401, `${what} unknown token`);
  // A session without admin rights: 403, whatever the call.
  status(await call(method, template, { params: sample, token: process.env.SESSION_USER }), 403,
    `${what} non-admin session (bearer)`);
  status(await call(method, template, { params: sample, token: null, cookie: process.env.SESSION_USER }), 403,
    `${what} non-admin session (cookie)`);
  if (write) {
    r = status(await call(method, template, { params: sample, token: process.env.TOKEN_READ, body: {} }), 403,
      `${what} with a read token`);
    errorNames(r, 'scope', `${what} read token`);
    // An admin's cookie session without the CSRF token: 403.
    r = status(await call(method, template, { params: sample, token: null, cookie: process.env.SESSION_ADMIN, body: {} }),
      403, `${what} admin cookie without CSRF token`);
    errorNames(r, 'CSRF', `${what} CSRF`);
  }
  // Unknown query parameters.
  r = status(await call(method, template, { params: sample, query: 'frobnicate=1' }), 400, `${what} unknown query`);
  errorNames(r, 'frobnicate', `${what} unknown query`);
  // A wrong method: 405 with Allow, as JSON.
  r = status(await call('PATCH', template, { params: sample }), 405, `${what} PATCH`);
  expect(r.headers.get('allow'), `${what}: Allow header`);
  // Bodies: huge (413), not JSON, not an object, unknown fields, wrong types.
  if (write) {
    status(await call(method, template, { params: sample, raw: JSON.stringify({ name: 'x'.repeat(100000) }),
      headers: { 'Content-Type': 'application/json' } }), 413, `${what} huge body`);
    status(await call(method, template, { params: sample, raw: '{"name": ', headers: { 'Content-Type': 'application/json' } }),
      400, `${what} broken JSON`);
    status(await call(method, template, { params: sample, body: ['a'] }), 400, `${what} array body`);
    r = status(await call(method, template, { params: sample, body: { name: 'zz', surprise: true } }), 400,
      `${what} unknown field`);
    const schema = op.requestBody?.content?.['application/json']?.schema;
    if (schema) {
      r = status(await call(method, template, { params: sample, body: { name: 42 } }), 400, `${what} wrong type`);
      errorNames(r, 'name', `${what} wrong type`);
      r = status(await call(method, template, { params: sample, body: { name: 'zz' }, headers: { 'Content-Type': 'text/plain' } }),
        400, `${what} text/plain body`);
      r = status(await call(method, template, { params: sample, body: {} }), 400, `${what} missing field`);
      errorNames(r, 'required', `${what} missing field`);
    } else {
      errorNames(r, 'no body', `${what} takes no body`);
    }
  }
  // Lists: bad cursors and limits.
  if ((op.parameters || []).some((p) => p.$ref === '#/components/parameters/cursor')) {
    for (const bad of ['garbage', 'zz', '00', encodeURIComponent('%%'), 'a'.repeat(3000)]) {
      r = status(await call(method, template, { query: 'cursor=' + bad }), 400, `${what} cursor ${bad.slice(0, 10)}`);
      errorNames(r, 'cursor', `${what} bad cursor`);
    }
    // Another list's cursor.
    const other = (await call('GET', template === '/api/v1/people' ? '/api/v1/audit' : '/api/v1/people', { query: 'limit=1' }))
      .json.next_cursor;
    status(await call(method, template, { query: 'cursor=' + encodeURIComponent(other) }), 400, `${what} another list's cursor`);
    for (const bad of ['0', '501', '-1', 'ten', '1e3', '']) {
      r = status(await call(method, template, { query: 'limit=' + bad }), 400, `${what} limit=${bad}`);
      errorNames(r, 'limit', `${what} bad limit`);
    }
    status(await call(method, template, { query: 'limit=1&limit=2' }), 400, `${what} repeated parameter`);
  }
}
// Paths outside the spec are JSON 404s.
r = await call('GET', '/api/v1/nothing-here');
expect(r.status === 404 && r.json?.error, 'unknown API path: JSON 404');

// An admin's cookie session: reads work; a change with the CSRF token works.
status(await call('GET', '/api/v1/people', { token: null, cookie: process.env.SESSION_ADMIN }), 200, 'admin cookie read');
r = status(await call('POST', '/api/v1/people', { token: null, cookie: process.env.SESSION_ADMIN,
  headers: { 'X-CSRF-Token': process.env.SESSION_ADMIN_CSRF, 'Sec-Fetch-Site': 'same-origin' }, body: { name: 'dave' } }),
201, 'admin cookie write with CSRF token');
status(await call('POST', '/api/v1/people', { token: null, cookie: process.env.SESSION_ADMIN,
  headers: { 'X-CSRF-Token': process.env.SESSION_ADMIN_CSRF, 'Sec-Fetch-Site': 'cross-site' }, body: { name: 'eve' } }),
403, 'admin cookie write from another site');
r = status(await call('GET', '/api/v1/audit', { query: 'subject=dave&action=user.add' }), 200, 'audit dave');
expect(r.json.items[0]?.actor === 'user:admin', `dave added by user:admin: ${r.text.slice(0, 200)}`);
// An admin's bearer session (wgate login) needs no CSRF token.
status(await call('POST', '/api/v1/people', { token: process.env.SESSION_ADMIN, body: { name: 'frank' } }), 201,
  'admin bearer session write');

// Every operation of the spec was called.
for (const { method, template } of ops) {
  expect(exercised.has(`${method} ${template}`), `${method} ${template} was never exercised`);
}
// Nothing stored from the bad calls: only the people added on purpose.
r = await call('GET', '/api/v1/people', { query: 'limit=500' });
const finalNames = r.json.items.map((p) => p.name).sort().join(',');
expect(finalNames === 'admin,alice,carol,dave,frank,p0,p1,p2,p3,p4,p5,p6,user', `people after bad input: ${finalNames}`);

console.log(`${checks} checks, ${failures} failures, ${ops.length} operations`);
process.exit(failures ? 1 : 0);
