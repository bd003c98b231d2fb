// A webhook receiver for the SSO lab: answers the first --fail-first
// requests of each alert (by its dedup_key) with 500, later ones with 200, and appends one JSON line per
// request ({n, status, body}) to --log. Loopback only.
//   node webhook_receiver.mjs --log FILE --port-file FILE [--fail-first N]
import http from "node:http";
import fs from "node:fs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
if (!args.log || !args["port-file"]) {
  process.stderr.write("usage: webhook_receiver.mjs --log FILE --port-file FILE [--fail-first N]\n");
  process.exit(2);
}
const failFirst = Number(args["fail-first"] ?? 0);
let n = 0;
const seen = new Map();  // dedup_key -> requests so far
const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    n += 1;
    let key = "";
    try { key = JSON.parse(body).dedup_key ?? ""; } catch { key = ""; }
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const status = seen.get(key) <= failFirst ? 500 : 200;
    fs.appendFileSync(args.log, JSON.stringify({ n, status, key, path: req.url, body }) + "\n");
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(status === 200 ? "ok" : "try again");
  });
});
server.listen(0, "127.0.0.1", () => {
  const tmp = args["port-file"] + ".tmp";
  fs.writeFileSync(tmp, String(server.address().port));
  fs.renameSync(tmp, args["port-file"]);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
