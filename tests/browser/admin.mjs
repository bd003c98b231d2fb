// Browser test of the admin UI: Debian's chromium driven by playwright-core
// through wgate's admin pages and the test IdP's real sign-in page.
//   node admin.mjs --base http://127.0.0.1:8443
//     --admin dana --admin-password P         an IdP user in [web] admin_groups
//     --user alice --password P               a person without admin rights
//     --person alice --device tablet          a connected device of the lab (traffic flowing)
//     --whois-ip A --explain-dest D           for the whois and explain pages
//     --screenshots DIR                       where the pages' screenshots go
//     [--expect-updates live|polling]         how the dashboard must get its numbers:
//                                             "live" = GET /api/v1/events (SSE)
// In order it checks: without a session /admin leads to the login; a
// non-admin gets 403 (the page, its assets and the API) and no admin content;
// the admin signs in and sees the device's received bytes grow without a
// reload; a forged cross-site POST (a page on another origin posting to the
// revoke endpoint with the admin's cookie) is refused and the key stays;
// the admin revokes the device's key by clicking. Prints "PASS: ..." per
// check; exit 1 on the first failure, with the reason.
import { chromium } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith("--")) continue;
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith("--")) args[a.slice(2)] = true;
  else args[a.slice(2)] = process.argv[++i];
}
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
const pass = (what) => console.log(`PASS: ${what}`);
for (const k of ["base", "admin", "admin-password", "user", "password", "person", "device", "screenshots"]) {
  if (!args[k]) fail(`usage: missing --${k}`);
}
const base = args.base;
fs.mkdirSync(args.screenshots, { recursive: true });
const t0 = Date.now();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Root in a test namespace: chromium's sandbox needs user namespaces it
  // may not get there.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  timeout: 30000,
});

// Signs in at the provider's page, starting from `start` on wgate; ends on
// `landing`.
async function signIn(page, start, user, password, landing) {
  await page.goto(`${base}${start}`);
  await page.locator('input[name="login"]').waitFor();
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(`${base}${landing}`), page.click('button[type="submit"]')]);
}

let forged;
try {
  // --- no session: the login -------------------------------------------------------
  {
    const context = await browser.newContext();
    const r = await context.request.get(`${base}/admin`, { maxRedirects: 0 });
    const loc = r.headers()["location"] || "";
    if (r.status() !== 302 || loc !== "/auth/login?return_to=/admin") fail(`/admin without a session: ${r.status()} ${loc}`);
    pass("without a session /admin redirects to /auth/login?return_to=/admin");
    await context.close();
  }

  // --- a non-admin ------------------------------------------------------------------
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    // Straight to /admin: the login comes back there, and is refused.
    const answers = [];
    page.on("response", (r) => { if (r.url() === `${base}/admin`) answers.push(r.status()); });
    await signIn(page, "/admin", args.user, args.password, "/admin");
    if (answers[answers.length - 1] !== 403) fail(`${args.user} on /admin got ${answers.join(",")}, not 403`);
    const text = await page.content();
    if (/admin\.js|id="app"|id="nav"/.test(text)) fail("the 403 page carries the admin shell");
    if (!/Admins only/.test(text)) fail(`the 403 page does not say why: ${text.slice(0, 300)}`);
    pass(`${args.user} (no admin group) gets a plain 403 page on /admin, without the admin shell`);
    for (const p of ["/api/v1/people", "/api/v1/status", "/admin/assets/admin.js"]) {
      const r = await context.request.get(`${base}${p}`);
      if (r.status() !== 403) fail(`${args.user} on ${p}: ${r.status()}, not 403`);
      const body = await r.text();
      if (/"items"|"interfaces"|import /.test(body)) fail(`${args.user} on ${p} got admin content`);
    }
    pass(`${args.user} gets 403 on /api/v1/people, /api/v1/status and the admin script`);
    await page.goto(`${base}/self`);
    await page.locator("#me").waitFor({ state: "visible" });
    if (await page.locator("#admin-link").isVisible()) fail("the self-service page shows a non-admin the admin link");
    pass("the self-service page has no admin link for a non-admin");
    await context.close();
  }

  // --- the admin ------------------------------------------------------------------
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  // Through /self: its admin link is the way in.
  await page.goto(`${base}/self`);
  await page.click("#login-link");
  await page.locator('input[name="login"]').waitFor();
  await page.fill('input[name="login"]', args.admin);
  await page.fill('input[name="password"]', args["admin-password"]);
  await Promise.all([page.waitForURL(`${base}/self`), page.click('button[type="submit"]')]);
  await page.locator("#admin-link").waitFor({ state: "visible" });
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("#admin-link")]);
  await page.locator("#nav").waitFor();
  pass(`${args.admin} signed in at the IdP and followed the admin link from /self`);

  // Live bytes: the device's received bytes grow while the page stays.
  const row = page.locator(`tr.peer[data-user="${args.person}"][data-device="${args.device}"]`);
  await row.waitFor({ timeout: 20000 });
  await page.evaluate(() => { window.__stayed = true; });
  const rx = async () => Number(await row.locator("td.rx").getAttribute("data-bytes"));
  const first = await rx();
  let grown = first;
  for (let i = 0; i < 100 && grown <= first; i++) {
    await page.waitForTimeout(200);
    grown = await rx();
  }
  if (grown <= first) fail(`${args.person}/${args.device}'s received bytes did not grow (${first})`);
  if (!(await page.evaluate(() => window.__stayed === true))) fail("the dashboard reloaded");
  const mode = await page.getAttribute("#live", "data-mode");
  if (args["expect-updates"] && mode !== args["expect-updates"]) fail(`the dashboard's updates came by ${mode}, not ${args["expect-updates"]}`);
  pass(`the dashboard shows ${args.person}/${args.device} connected, received bytes ${first} -> ${grown} without a reload (updates: ${mode})`);
  await page.screenshot({ path: path.join(args.screenshots, "dashboard.png"), fullPage: true });

  // The pages, each with something on it.
  const shoot = async (hash, ready, name) => {
    await page.goto(`${base}/admin${hash}`);
    await page.locator(ready).first().waitFor();
    await page.screenshot({ path: path.join(args.screenshots, `${name}.png`), fullPage: true });
  };
  await shoot("#/people", "#people tbody tr", "people");
  await page.fill("#people-search", args.person.slice(0, 2));
  await page.locator(`#people a[href="#/person/${args.person}"]`).waitFor();
  pass("the people list searches by name prefix");
  await shoot(`#/person/${args.person}`, "tr[data-key-id]", "person");
  await shoot("#/keys?state=active", "tr[data-key-id]", "keys");
  await shoot("#/flows", "#flows, #flows-empty", "flows");
  if (args["whois-ip"]) {
    await shoot(`#/whois?ip=${args["whois-ip"]}`, "#whois-answer", "whois");
    const answer = await page.textContent("#whois-answer");
    if (!answer.includes(args.person)) fail(`whois ${args["whois-ip"]} does not name ${args.person}: ${answer}`);
    pass(`whois names ${args.person} for ${args["whois-ip"]}`);
  }
  if (args["explain-dest"]) {
    await shoot(`#/explain?target=${args.person}&destination=${args["explain-dest"]}`, "#explain-answer .deciding", "explain");
    pass(`explain shows the deciding step for ${args.person} -> ${args["explain-dest"]}`);
  }
  await shoot("#/plan", "#plan", "plan");

  // The key of the device, as the API lists it.
  const keys = await page.evaluate(async (who) => {
    const r = await fetch(`/api/v1/keys?user=${who}&state=active&limit=100`);
    return r.json();
  }, args.person);
  const key = keys.items.find((k) => k.device === args.device);
  if (!key) fail(`no active key of ${args.person}/${args.device}: ${JSON.stringify(keys)}`);
  const keyState = async () => page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/keys?user=${encodeURIComponent(id.user)}&limit=100`);
    return (await r.json()).items.find((k) => k.id === id.id)?.state;
  }, { id: key.id, user: args.person });

  // --- a forged cross-site POST -------------------------------------------------------
  // A page on another origin (same host, another port: same site, so the
  // SameSite=Lax session cookie IS sent; the CSRF check must refuse it).
  forged = http.createServer((req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(`<!doctype html><form id="f" method="post" action="${base}/api/v1/keys/${key.id}/revoke"></form>
      <script>
        fetch("${base}/api/v1/keys/${key.id}/revoke", { method: "POST", mode: "no-cors", credentials: "include" })
          .finally(() => document.getElementById("f").submit());
      </script>`);
  });
  await new Promise((resolve) => forged.listen(0, "127.0.0.1", resolve));
  const evilOrigin = `http://127.0.0.1:${forged.address().port}`;
  const evil = await context.newPage();
  const refused = evil.waitForResponse((r) => r.url() === `${base}/api/v1/keys/${key.id}/revoke` && r.request().resourceType() === "document");
  await evil.goto(`${evilOrigin}/`);
  const answer = await refused;
  const text = await answer.text();
  // "CSRF check failed", not "not logged in" (401): the session cookie went
  // with the forged POST, and the CSRF check is what refused it.
  if (answer.status() !== 403 || !/CSRF/.test(text)) fail(`the forged form POST was answered ${answer.status()}: ${text}`);
  await evil.close();
  const after = await keyState();
  if (after !== "active") fail(`after the forged POSTs the key is ${after}`);
  pass(`a form POST and a fetch from ${evilOrigin} with the admin's cookie are refused (403 CSRF), key ${key.id} stays active`);

  // --- revoke by clicking --------------------------------------------------------------
  await page.goto(`${base}/admin#/person/${args.person}`);
  const keyRow = page.locator(`tr[data-key-id="${key.id}"]`);
  await keyRow.locator("button.revoke").click();
  await keyRow.locator("button.confirm-revoke").click();
  await keyRow.locator(".key-state .state-revoked").waitFor();
  if ((await keyState()) !== "revoked") fail("the API does not list the key as revoked");
  pass(`${args.admin} revoked key ${key.id} (${args.person}/${args.device}) with a click and a confirmation`);
  await shoot(`#/audit?action=key.revoke`, "#audit tbody tr", "audit");
  const audit = await page.textContent("#audit");
  if (!audit.includes(`user:${args.admin}`)) fail(`the audit log has no key.revoke by user:${args.admin}`);
  pass(`the audit log records the revocation by user:${args.admin}`);
  // Not a failure: chromium logs the event stream's failure (before the
  // endpoint exists) and the refused calls as errors.
  if (consoleErrors.length) console.log(`console errors seen: ${consoleErrors.slice(0, 5).join(" | ")}`);
  console.log(`admin UI test: ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${args.screenshots}`);
} finally {
  if (forged) forged.close();
  await browser.close();
}
