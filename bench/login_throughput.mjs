#!/usr/bin/env node
// Logins per second through wgate against the provider's own token endpoint
// (the anchor), for bench/run_login.sh (see bench/README.md, "login").
//
// A device-grant login has two halves: starting it and a person approving
// it at the provider (minutes of human time), then the poll that finds it
// approved. Only the second half is the server's work per login, so each
// phase first starts and approves `--count` logins (untimed), then times
// the polls that complete them, `--concurrency` at a time:
//   anchor:  POST <idp>/token (device_code grant), straight at the provider;
//   wgate:   POST <wgate>/api/v1/device/poll, which makes the same token
//            request, checks the ID token, records the login (the person's
//            groups, the audit record) and opens a session.
// People are <prefix>NNNNN from --first on (the test IdP's usernames).
//
//   node login_throughput.mjs --mode anchor|wgate --idp URL [--wgate URL]
//        --client-id ID --client-secret S --prefix bench --first 0 --count 300
//        [--concurrency 16] [--scope "openid email profile"]
// Prints one JSON line: {mode, count, seconds, per_second, p50_ms, p99_ms}.
// Exits 1 (with the reason) when any login does not complete.
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    mode: { type: 'string' },
    idp: { type: 'string' },
    wgate: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    prefix: { type: 'string', default: 'bench' },
    first: { type: 'string', default: '0' },
    count: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    scope: { type: 'string', default: 'openid email profile offline_access' },
  },
  strict: true,
});
const die = (why) => {
  process.stderr.write(`login_throughput: ${why}\n`);
  process.exit(1);
};
if (!['anchor', 'wgate'].includes(a.mode)) die('--mode must be anchor or wgate');
if (!a.idp || !a['client-id'] || !a['client-secret']) die('--idp, --client-id and --client-secret are required');
if (a.mode === 'wgate' && !a.wgate) die('--wgate is required with --mode wgate');
const first = Number(a.first);
const count = Number(a.count);
const concurrency = Number(a.concurrency);
for (const [k, v] of [['first', first], ['count', count], ['concurrency', concurrency]]) {
  if (!Number.isInteger(v) || v < (k === 'first' ? 0 : 1)) die(`--${k} must be a whole number`);
}
const basic = `Basic ${Buffer.from(`${encodeURIComponent(a['client-id'])}:${encodeURIComponent(a['client-secret'])}`).toString('base64')}`;
const person = (i) => `${a.prefix}${String(first + i).padStart(5, '0')}`;

// Runs fn over items, `n` at a time; resolves to the results in order.
async function inPool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k], k);
    }
  }));
  return out;
}

async function post(url, body, headers) {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}
const form = (o) => new URLSearchParams(o).toString();
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
const jsonHeaders = { 'content-type': 'application/json', accept: 'application/json' };

async function approve(userCode, user) {
  const r = await post(`${a.idp}/test/device/approve`, JSON.stringify({ user_code: userCode, user }), jsonHeaders);
  if (r.status !== 200) die(`approving ${user}'s code at the test IdP: HTTP ${r.status} ${r.text.slice(0, 200)}`);
}

// The untimed half: start and approve every login. Returns what each poll needs.
async function prepare() {
  const indices = [...Array(count).keys()];
  return inPool(indices, 8, async (i) => {
    if (a.mode === 'anchor') {
      const r = await post(`${a.idp}/device/auth`, form({ scope: a.scope }), formHeaders);
      if (r.status !== 200 || !r.json?.device_code) die(`device authorization at the provider: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      await approve(r.json.user_code, person(i));
      return { code: r.json.device_code, interval: r.json.interval ?? 5 };
    }
    const r = await post(`${a.wgate}/api/v1/device/start`, JSON.stringify({ device: 'bench' }), jsonHeaders);
    if (r.status !== 200 || !r.json?.handle) die(`wgate device/start: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    await approve(r.json.user_code, person(i));
    return { code: r.json.handle, interval: r.json.interval ?? 5 };
  });
}

// One timed poll; resolves to its duration in ms, or dies.
async function complete(p, i) {
  const t0 = process.hrtime.bigint();
  if (a.mode === 'anchor') {
    const r = await post(`${a.idp}/token`,
      form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: p.code }), formHeaders);
    if (r.status !== 200 || !r.json?.id_token) die(`provider token request for ${person(i)}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  } else {
    const r = await post(`${a.wgate}/api/v1/device/poll`, JSON.stringify({ handle: p.code }), jsonHeaders);
    if (r.status !== 200 || r.json?.state !== 'done') die(`wgate device/poll for ${person(i)}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const prepared = await prepare();
// wgate answers slow_down to a poll sooner than the agreed interval after
// the start; wait it out once for all (untimed).
const wait = Math.max(...prepared.map((p) => p.interval)) * 1000 + 200;
await new Promise((r) => setTimeout(r, wait));
const t0 = process.hrtime.bigint();
const ms = await inPool(prepared, concurrency, complete);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
ms.sort((x, y) => x - y);
const pct = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
process.stdout.write(`${JSON.stringify({
  mode: a.mode,
  count,
  concurrency,
  seconds: Number(seconds.toFixed(3)),
  per_second: Number((count / seconds).toFixed(1)),
  p50_ms: Number(pct(0.5).toFixed(2)),
  p99_ms: Number(pct(0.99).toFixed(2)),
})}\n`);
