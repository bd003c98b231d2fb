// Authorization-code attacks against wgate's browser login and the real
// provider (the test IdP: oidc-provider 9, PKCE S256 required of every client):
//   node code_attacks.mjs --base http://127.0.0.1:8443 --idp http://127.0.0.1:PORT
//        --user alice --password P --client-id wgate --client-secret S
// Needs the test IdP with --test-api (GET /test/token-errors names why the
// provider refused a code) and wgate's public_url = --base (its redirect URI,
// --base + /auth/callback, is the one registered at the provider).
// Prints one PASS:/FAIL: line per check; exit 0 only when all passed.
//
// 1. Reused code through wgate: a login delivered once works; the same
//    callback again is refused (with and without the login-state cookie);
//    the redeemed code injected into a new login is refused by the provider.
// 2. Wrong PKCE verifier: an unused code of login A delivered with login B's
//    state (so wgate redeems it with B's verifier) is refused by the provider
//    (code_verifier does not match code_challenge) and by wgate; A's own
//    callback still works afterwards (only the verifier was wrong).
// 3. At the provider directly, client --client-id: an authorization request
//    without code_challenge (or with method plain) gets no code; a code is
//    refused without a verifier and with a wrong one, works with the right
//    one, then once redeemed is refused, and its grant's refresh token dies.
// The provider's redirects to --base/auth/callback are held in the browser
// (DevTools protocol interception) until a check delivers them, so wgate
// sees only what a check sends it.
import { chromium } from "playwright-core";
import crypto from "node:crypto";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith("--")) continue;
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith("--")) args[a.slice(2)] = true;
  else args[a.slice(2)] = process.argv[++i];
}
for (const k of ["base", "idp", "user", "password", "client-id", "client-secret"]) {
  if (typeof args[k] !== "string") {
    console.error(`FAIL: usage: code_attacks.mjs --base URL --idp URL --user U --password P --client-id ID --client-secret S (--${k} missing)`);
    process.exit(1);
  }
}
const BASE = args.base.replace(/\/$/, "");
const IDP = args.idp.replace(/\/$/, "");
const CALLBACK = `${BASE}/auth/callback`; // wgate's redirect URI, registered at the provider
const PKCE_MISMATCH = /code_verifier does not match code_challenge/;
const CONSUMED = /authorization code already consumed/;

let passed = 0;
let failed = 0;
const pass = (what) => {
  passed++;
  console.log(`PASS: ${what}`);
};
const fail = (what, why) => {
  failed++;
  console.log(`FAIL: ${what}: ${why}`);
};
// One check: `why` is null when it holds, else the reason it does not.
const check = (what, why) => (why ? fail(what, why) : pass(what));
const clip = (s, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

// --- the provider --------------------------------------------------------------

async function idpJson(path) {
  const r = await fetch(`${IDP}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = await r.json().catch(() => null);
  if (!r.ok || !body) throw new Error(`GET ${IDP}${path}: HTTP ${r.status} ${JSON.stringify(body)} (is the IdP running with --test-api?)`);
  return body;
}
const lastTokenError = async () => (await idpJson("/test/token-errors")).last_seq;
// The provider's code-grant refusals since sequence number `seq`.
async function codeRefusalsSince(seq) {
  const { errors } = await idpJson(`/test/token-errors?after=${seq}`);
  return errors.filter((e) => e.grant_type === "authorization_code");
}
// The provider's reason: oidc-provider's error_detail, else its description.
const reasonOf = (e) => e.detail ?? e.error_description ?? "no reason given";
const describeRefusals = (list) =>
  list.length ? list.map((e) => `${e.error} (${reasonOf(e)}) for ${e.client_id}`).join("; ") : "none";
// Exactly one refusal of a code grant for our client, invalid_grant, with a
// detail matching `reason`; null when so.
function oneRefusal(list, reason) {
  if (list.length !== 1) return `expected 1 refused code grant at the provider, saw ${list.length}: ${describeRefusals(list)}`;
  const [e] = list;
  if (e.client_id !== args["client-id"]) return `the refusal was for client ${e.client_id}`;
  if (e.error !== "invalid_grant") return `the provider answered ${e.error}, not invalid_grant`;
  if (!reason.test(reasonOf(e))) return `the provider refused it for "${reasonOf(e)}", not ${reason}`;
  return null;
}

const discovery = await (async () => {
  try {
    const r = await fetch(`${IDP}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return await r.json();
  } catch (e) {
    console.log(`FAIL: the provider's discovery (${IDP}): ${e.message}`);
    process.exit(1);
  }
})();

async function tokenRequest(params) {
  const basic = Buffer.from(
    `${encodeURIComponent(args["client-id"])}:${encodeURIComponent(args["client-secret"])}`,
  ).toString("base64");
  const r = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
    body: new URLSearchParams(params),
    signal: AbortSignal.timeout(5000),
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const newVerifier = () => b64url(crypto.randomBytes(48)); // 64 characters
const challengeOf = (verifier) => b64url(crypto.createHash("sha256").update(verifier).digest());

// --- the browser ---------------------------------------------------------------

const browser = await chromium
  .launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // Root in a test namespace: chromium's sandbox needs user namespaces it
    // may not get there.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 30000,
  })
  .catch((e) => {
    console.log(`FAIL: chromium starts: ${e.message}`);
    process.exit(1);
  });

// A browser context whose navigations to wgate's callback are held, never
// sent: held() waits for the next one and gives its URL. The requests to
// the provider's authorization endpoint are recorded too.
async function holdingContext() {
  const context = await browser.newContext();
  const heldUrls = [];
  const waiters = [];
  const authorizeUrls = [];
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  // Playwright's route() never sees the legs of a redirect chain, and the
  // provider reaches the callback by redirects: the DevTools protocol's
  // Fetch domain pauses every request, redirect legs included.
  const cdp = await context.newCDPSession(page);
  cdp.on("Fetch.requestPaused", (e) => {
    if (!e.request.url.startsWith(CALLBACK)) {
      cdp.send("Fetch.continueRequest", { requestId: e.requestId }).catch(() => {});
      return;
    }
    heldUrls.push(e.request.url);
    while (waiters.length && heldUrls.length) waiters.shift()(heldUrls.shift());
    cdp.send("Fetch.fulfillRequest", {
      requestId: e.requestId,
      responseCode: 200,
      responseHeaders: [{ name: "content-type", value: "text/plain" }],
      body: Buffer.from("held by code_attacks.mjs\n").toString("base64"),
    }).catch(() => {});
  });
  await cdp.send("Fetch.enable", { patterns: [{ urlPattern: `${CALLBACK}*`, requestStage: "Request" }] });
  context.on("request", (req) => {
    if (req.url().startsWith(discovery.authorization_endpoint)) authorizeUrls.push(new URL(req.url()));
  });
  const held = (timeoutMs = 15000) =>
    new Promise((resolve, reject) => {
      if (heldUrls.length) return resolve(new URL(heldUrls.shift()));
      const t = setTimeout(() => reject(new Error(`no redirect to ${CALLBACK} within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((u) => {
        clearTimeout(t);
        resolve(new URL(u));
      });
    });
  return { context, page, held, authorizeUrls };
}

// The provider's sign-in page, as login.mjs drives it.
async function signIn(page) {
  await page.locator('input[name="login"]').waitFor();
  await page.fill('input[name="login"]', args.user);
  await page.fill('input[name="password"]', args.password);
  await page.click('button[type="submit"]');
}

// A browser login started on wgate's page (/self → #login-link → sign-in);
// the provider's redirect back to wgate is held. Gives the context, the
// held callback URL and wgate's authorization request.
async function heldBrowserLogin() {
  const h = await holdingContext();
  await h.page.goto(`${BASE}/self`);
  await h.page.locator("#login-link").waitFor({ state: "visible" });
  await h.page.click("#login-link");
  await signIn(h.page);
  const callback = await h.held();
  const authorize = h.authorizeUrls.find((u) => u.searchParams.get("client_id") === args["client-id"]);
  return { ...h, callback, authorize };
}

// A login started at wgate without the browser UI (a fresh context's
// /auth/login): wgate stores a new state and verifier and sets the state
// cookie. Gives the context and its state.
async function startedLogin() {
  const context = await browser.newContext();
  const r = await context.request.get(`${BASE}/auth/login?return_to=/self`, { maxRedirects: 0, failOnStatusCode: false });
  if (r.status() !== 302) throw new Error(`GET /auth/login answered ${r.status()}, not 302`);
  const location = new URL(r.headers()["location"] ?? "");
  const state = location.searchParams.get("state");
  const cookie = (await context.cookies()).find((c) => c.name === "wgate_login");
  if (!state || !cookie || cookie.value !== state) throw new Error(`/auth/login set no state cookie matching the state (${location})`);
  return { context, state, authorize: location };
}

// Delivers a callback URL to wgate from `context` (its cookies), without
// following wgate's redirect.
async function deliver(context, url) {
  const r = await context.request.get(url.toString(), { maxRedirects: 0, failOnStatusCode: false });
  const setCookies = r.headersArray().filter((h) => h.name.toLowerCase() === "set-cookie").map((h) => h.value);
  const body = await r.text().catch(() => "");
  const message = (body.match(/<p class="error">([\s\S]*?)<\/p>/) || [, ""])[1]
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  return { status: r.status(), location: r.headers()["location"], setCookies, message, body };
}

const sessionCookieSet = (answer) => answer.setCookies.some((c) => /^wgate_session=[^;]+/.test(c));
async function selfView(context) {
  const r = await context.request.get(`${BASE}/api/v1/self`, { failOnStatusCode: false });
  return { status: r.status(), body: await r.json().catch(() => null) };
}

// A delivery that must have logged in: 303 to /self, a session cookie, and
// /api/v1/self names the person.
async function loggedIn(context, answer) {
  if (answer.status !== 303) return `wgate answered ${answer.status} (${clip(answer.message || answer.body)}), not 303`;
  if (!sessionCookieSet(answer)) return "no session cookie was set";
  const me = await selfView(context);
  if (me.status !== 200) return `GET /api/v1/self answered ${me.status}: ${JSON.stringify(me.body)}`;
  if (me.body?.user !== args.user) return `GET /api/v1/self names ${JSON.stringify(me.body?.user)}, not ${args.user}`;
  return null;
}

// A delivery that must have been refused: a 4xx error page with a message,
// no session cookie set, and (for a context that had no session) no session.
async function refused(context, answer, { hadSession = false, message = null } = {}) {
  if (answer.status < 400 || answer.status > 499) return `wgate answered ${answer.status}${answer.location ? ` → ${answer.location}` : ""}, not a 4xx`;
  if (sessionCookieSet(answer)) return `a session cookie was set: ${answer.setCookies.join(" | ")}`;
  if (!answer.message) return `no error message on the page: ${clip(answer.body)}`;
  if (message && !message.test(answer.message)) return `the message "${answer.message}" does not match ${message}`;
  // The person is told why, not the provider's internals.
  if (answer.message.includes(args.idp)) return `the message shows the provider's URL: "${answer.message}"`;
  if (!hadSession) {
    if ((await context.cookies()).some((c) => c.name === "wgate_session" && c.value)) return "the browser holds a session cookie";
    const me = await selfView(context);
    if (me.status !== 401) return `GET /api/v1/self answered ${me.status}, not 401`;
  }
  return null;
}

// Runs one group of checks; an exception fails the group with its reason.
async function group(name, body) {
  console.log(`== ${name}`);
  try {
    await body();
  } catch (e) {
    fail(`${name}: could not run to the end`, e.message);
  }
}

// The held callback must carry a code for the authorization request's
// state; null when so.
function heldCode(callback, state) {
  if (!callback.searchParams.get("code")) return `the held callback has no code: ${callback}`;
  if (!state || callback.searchParams.get("state") !== state) return `the held callback's state is not the request's (${state}): ${callback}`;
  return null;
}

try {
  // --- 1 ---------------------------------------------------------------------
  await group("1: a reused authorization code, through wgate", async () => {
    const a = await heldBrowserLogin();
    check("1: the provider's redirect to wgate's callback was held (code and state)", heldCode(a.callback, a.authorize?.searchParams.get("state")));
    const first = await deliver(a.context, a.callback);
    check("1: delivered once, the callback logs in (303 to /self, session cookie, GET /api/v1/self 200 names the person)", await loggedIn(a.context, first));

    // The same URL again, same browser: wgate cleared its state cookie.
    let seq = await lastTokenError();
    const again = await deliver(a.context, a.callback);
    let asked = await codeRefusalsSince(seq);
    let why = (await refused(a.context, again, { hadSession: true })) ?? (asked.length ? `the provider was asked: ${describeRefusals(asked)}` : null);
    check(`1: the same callback URL again in the same browser is refused (${again.status}: "${again.message}")`, why);

    // The same URL again with the state cookie put back (whoever captured
    // the whole request): the login state is single-use.
    const replay = await browser.newContext();
    await replay.addCookies([{ name: "wgate_login", value: a.callback.searchParams.get("state"), url: BASE }]);
    seq = await lastTokenError();
    const replayed = await deliver(replay, a.callback);
    asked = await codeRefusalsSince(seq);
    why = (await refused(replay, replayed)) ?? (asked.length ? `the provider was asked: ${describeRefusals(asked)}` : null);
    check(`1: the same callback URL with its state cookie, in a fresh browser, is refused without asking the provider (${replayed.status}: "${replayed.message}")`, why);
    await replay.close();

    // The redeemed code in a new login (new state, new verifier at wgate):
    // wgate redeems it, the provider refuses.
    const fresh = await startedLogin();
    const injected = new URL(CALLBACK);
    injected.searchParams.set("code", a.callback.searchParams.get("code"));
    injected.searchParams.set("state", fresh.state);
    seq = await lastTokenError();
    const answer = await deliver(fresh.context, injected);
    const refusals = await codeRefusalsSince(seq);
    why = await refused(fresh.context, answer, { message: /invalid_grant/ });
    // oidc-provider checks PKCE before it looks whether the code was used,
    // so this refusal names the verifier; either refuses the replay.
    why ??= oneRefusal(refusals, new RegExp(`${PKCE_MISMATCH.source}|${CONSUMED.source}`));
    check(`1: the redeemed code injected into a new login is refused: the provider said ${describeRefusals(refusals)}; wgate ${answer.status}: "${answer.message}"`, why);

    const still = await selfView(a.context);
    check("1: the first login's session still works after the replays", still.status === 200 ? null : `GET /api/v1/self answered ${still.status}`);
    await fresh.context.close();
    await a.context.close();
  });

  // --- 2 ---------------------------------------------------------------------
  await group("2: a code delivered with another login's PKCE verifier", async () => {
    const a = await heldBrowserLogin();
    const stateA = a.authorize?.searchParams.get("state");
    check("2: login A's code was held, unused", heldCode(a.callback, stateA));
    const b = await startedLogin();
    const chA = a.authorize?.searchParams.get("code_challenge");
    const chB = b.authorize.searchParams.get("code_challenge");
    check(
      "2: wgate sent each login its own S256 challenge",
      !chA || !chB ? `a challenge is missing (A ${chA}, B ${chB})`
        : chA === chB ? "A and B have the same challenge"
          : a.authorize.searchParams.get("code_challenge_method") !== "S256" || b.authorize.searchParams.get("code_challenge_method") !== "S256"
            ? "a code_challenge_method is not S256" : null,
    );

    const injected = new URL(CALLBACK);
    injected.searchParams.set("code", a.callback.searchParams.get("code"));
    injected.searchParams.set("state", b.state);
    const seq = await lastTokenError();
    const answer = await deliver(b.context, injected);
    const refusals = await codeRefusalsSince(seq);
    const why = (await refused(b.context, answer, { message: /invalid_grant/ })) ?? oneRefusal(refusals, PKCE_MISMATCH);
    check(`2: A's code with B's state (redeemed with B's verifier) is refused: the provider said ${describeRefusals(refusals)}; wgate ${answer.status}: "${answer.message}"`, why);

    // A's own callback: the same code with A's verifier still works (the
    // refusal did not use it up), so only the verifier was wrong.
    const own = await deliver(a.context, a.callback);
    check("2: A's own callback afterwards logs A in (the code was good, only with A's verifier)", await loggedIn(a.context, own));
    await b.context.close();
    await a.context.close();
  });

  // --- 3 ---------------------------------------------------------------------
  await group(`3: PKCE at the provider itself (client ${args["client-id"]})`, async () => {
    const methods = discovery.code_challenge_methods_supported;
    check(
      `3: the provider offers only S256 (code_challenge_methods_supported ${JSON.stringify(methods)})`,
      JSON.stringify(methods) === '["S256"]' ? null : "not exactly [\"S256\"]",
    );
    const h = await holdingContext();
    const authorizeUrl = (extra) => {
      const u = new URL(discovery.authorization_endpoint);
      const p = {
        client_id: args["client-id"], response_type: "code", scope: "openid email profile",
        redirect_uri: CALLBACK, state: b64url(crypto.randomBytes(16)), nonce: b64url(crypto.randomBytes(16)), ...extra,
      };
      for (const [k, v] of Object.entries(p)) if (v !== undefined) u.searchParams.set(k, v);
      return u;
    };

    // A code for a challenge of ours (sign-in on the provider's page).
    const verifier = newVerifier();
    let url = authorizeUrl({ code_challenge: challengeOf(verifier), code_challenge_method: "S256" });
    await h.page.goto(url.toString());
    await signIn(h.page);
    const cb = await h.held();
    check("3: with an S256 challenge the provider issues a code (held, never sent to wgate)", heldCode(cb, url.searchParams.get("state")));
    const code = cb.searchParams.get("code");

    // Signed in now: a request with a challenge would get a code at once.
    // Without a challenge, or with method plain, there is none.
    const noCode = async (what, extra) => {
      const u = authorizeUrl(extra);
      await h.page.goto(u.toString());
      const back = await h.held(5000).catch(() => null);
      if (!back) {
        const text = clip(((await h.page.textContent("body").catch(() => "")) || "").trim().replace(/\s+/g, " "), 200);
        return check(`3: ${what} gets no code`, /invalid_request/.test(text) ? null : `no redirect back and no invalid_request on the page: ${text}`);
      }
      const err = back.searchParams.get("error");
      check(
        `3: ${what} gets no code (${err ? `${err}: ${back.searchParams.get("error_description")}` : "no error"})`,
        back.searchParams.get("code") ? `a code was issued: ${back}`
          : err !== "invalid_request" ? `error ${err}, not invalid_request: ${back}`
            : back.searchParams.get("state") !== u.searchParams.get("state") ? `the error came back with another state: ${back}` : null,
      );
    };
    await noCode("an authorization request without code_challenge (signed in)", {});
    await noCode("an authorization request with code_challenge_method=plain (signed in)", { code_challenge: newVerifier(), code_challenge_method: "plain" });
    const verifier2 = newVerifier();
    url = authorizeUrl({ code_challenge: challengeOf(verifier2), code_challenge_method: "S256" });
    await h.page.goto(url.toString());
    const cb2 = await h.held(5000).catch((e) => e);
    check("3: the same session with a challenge gets a code at once (so the refusals above were for PKCE)", cb2 instanceof Error ? cb2.message : heldCode(cb2, url.searchParams.get("state")));

    // The token endpoint, all on the one code: a refusal does not use it up.
    const redeem = async (what, extra, expect) => {
      const seq = await lastTokenError();
      const r = await tokenRequest({ grant_type: "authorization_code", code, redirect_uri: CALLBACK, ...extra });
      const refusals = await codeRefusalsSince(seq);
      let why;
      if (expect.ok) why = r.status === 200 && r.body.id_token && r.body.access_token ? null : `HTTP ${r.status} ${JSON.stringify(r.body)}`;
      else if (r.status !== 400 || !expect.errors.includes(r.body.error)) why = `HTTP ${r.status} ${JSON.stringify(r.body)}, not 400 ${expect.errors.join("/")}`;
      else why = refusals.length === 1 && expect.detail.test(reasonOf(refusals[0])) ? null : `the provider's reason: ${describeRefusals(refusals)}, not ${expect.detail}`;
      const said = r.status === 200 ? "HTTP 200, tokens" : `${r.body.error} (${refusals[0] ? reasonOf(refusals[0]) : "?"})`;
      check(`3: ${what}: ${said}`, why);
      return r.body;
    };
    await redeem("the code without code_verifier is refused", {}, { errors: ["invalid_grant", "invalid_request"], detail: /code_verifier must be provided/ });
    await redeem("the code with another verifier is refused", { code_verifier: verifier2 }, { errors: ["invalid_grant"], detail: PKCE_MISMATCH });
    await redeem("the code with a malformed verifier (too short) is refused", { code_verifier: "short" }, { errors: ["invalid_request", "invalid_grant"], detail: /minimum length|code_verifier/ });
    const tokens = await redeem("the code with its own verifier works", { code_verifier: verifier }, { ok: true });
    await redeem("the same code again, with its own verifier, is refused", { code_verifier: verifier }, { errors: ["invalid_grant"], detail: CONSUMED });
    // RFC 6749 4.1.2: a reused code SHOULD revoke what it issued.
    if (tokens.refresh_token) {
      const r = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
      check(
        `3: after the reuse the first redemption's refresh token is revoked (${r.status} ${r.body.error ?? ""})`,
        r.status === 400 && r.body.error === "invalid_grant" ? null : `HTTP ${r.status} ${JSON.stringify(r.body)}`,
      );
    } else {
      fail("3: after the reuse the first redemption's refresh token is revoked", "the redemption gave no refresh token");
    }
    await h.context.close();
  });
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
