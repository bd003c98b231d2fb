// Browser login test: Debian's chromium driven by playwright-core through
// wgate's self-service page and the test IdP's real sign-in page.
//   node login.mjs --base http://127.0.0.1:8443 --user alice --password P
//                  [--device tablet --out FILE [--renew]] [--expect-failure]
// With --device: creates a key for that device in the page (key pair made by
// WebCrypto in the browser), checks the QR code was drawn, downloads the
// config and writes it to --out; with --renew it first renews that key with
// the device's Renew button (same address, new key). With --expect-failure: the sign-in must be
// refused (exit 0 when it was). Exit 1 on any failed step, with the reason.
import { chromium } from "playwright-core";
import fs from "node:fs";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith("--")) continue;
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith("--")) args[a.slice(2)] = true;
  else args[a.slice(2)] = process.argv[++i];
}
const fail = (why) => {
  console.error(`browser: FAIL: ${why}`);
  process.exit(1);
};
if (!args.base || !args.user) fail("usage: login.mjs --base URL --user U --password P [--device D --out F] [--expect-failure]");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Root in a test namespace: chromium's sandbox needs user namespaces it
  // may not get there.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  timeout: 30000,
});
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(`${args.base}/self`);
  await page.locator("#login-link").waitFor({ state: "visible" });
  await page.click("#login-link");
  // The provider's sign-in page.
  await page.locator('input[name="login"]').waitFor();
  await page.fill('input[name="login"]', args.user);
  await page.fill('input[name="password"]', args.password || "");
  await page.click('button[type="submit"]');
  if (args["expect-failure"]) {
    await page.waitForLoadState();
    const refused = await page.locator("#error").textContent().catch(() => "");
    if (!/Invalid username or password|disabled/.test(refused || "")) fail(`the sign-in was not refused: ${page.url()}`);
    if (page.url().startsWith(args.base)) fail("a refused sign-in came back to wgate");
    console.log(`browser: refused as expected (${refused.trim()})`);
    process.exit(0);
  }
  await page.waitForURL(`${args.base}/self`);
  await page.locator("#me").waitFor({ state: "visible" });
  const who = (await page.textContent("#who")) || "";
  if (!who.includes(args.user)) fail(`the page names "${who}", not ${args.user}`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "wgate_session");
  if (!session) fail("no session cookie");
  if (!session.httpOnly || session.sameSite !== "Lax") fail(`session cookie not HttpOnly/SameSite=Lax: ${JSON.stringify(session)}`);
  console.log(`browser: logged in as ${who.trim()}`);

  if (args.device) {
    await page.fill("#device", args.device);
    await page.click("#create");
    await page.locator("#result").waitFor({ state: "visible" });
    const err = ((await page.textContent("#error")) || "").trim();
    if (err) fail(`creating the key: ${err}`);
    if (args.renew) {
      // The device's Renew button: a new key pair for the same device, same address.
      const first = (await page.textContent("#result-summary")).trim();
      await page.click(`button.renew[data-device="${args.device}"]`);
      await page.waitForFunction((before) => {
        const now = document.getElementById("result-summary").textContent.trim();
        return now !== before && now !== "";
      }, first);
      const renewed = (await page.textContent("#result-summary")).trim();
      const err2 = ((await page.textContent("#error")) || "").trim();
      if (err2) fail(`renewing the key: ${err2}`);
      const addr = (t) => (t.match(/\(([0-9.]+)\)/) || [])[1];
      const keyId = (t) => (t.match(/^Key (\d+)/) || [])[1];
      if (!addr(first) || addr(first) !== addr(renewed)) fail(`the renewal changed the address: "${first}" -> "${renewed}"`);
      if (keyId(first) === keyId(renewed)) fail(`the renewal made no new key: "${renewed}"`);
      console.log(`browser: renewed: ${first} -> ${renewed}`);
    }
    // The QR code is drawn: dark pixels on the canvas.
    const dark = await page.evaluate(() => {
      const c = document.getElementById("qr");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
      return n;
    });
    if (dark < 500) fail(`the QR code was not drawn (${dark} dark pixels)`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const path = await download.path();
    const config = fs.readFileSync(path, "utf8");
    if (!/^PrivateKey = [A-Za-z0-9+/]{43}=$/m.test(config)) fail("the downloaded config has no private key");
    fs.writeFileSync(args.out, config, { mode: 0o600 });
    console.log(`browser: ${(await page.textContent("#result-summary")).trim()} (QR: ${dark} dark pixels)`);
  }
} finally {
  await browser.close();
}
