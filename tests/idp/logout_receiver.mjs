#!/usr/bin/env node
// Stands in for an RP's back-channel logout endpoint in tests: listens on
// loopback, answers every POST with --status (default 200) and appends one
// JSON line per request to --out: {"path": ..., "logout_token": ...}.
//
//   node logout_receiver.mjs --out FILE --port-file FILE [--port N] [--status N]
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    'port-file': { type: 'string' },
    port: { type: 'string', default: '0' },
    status: { type: 'string', default: '200' },
  },
  strict: true,
});
if (!args.out || !args['port-file']) {
  process.stderr.write('usage: node logout_receiver.mjs --out FILE --port-file FILE [--port N] [--status N]\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    appendFileSync(args.out, `${JSON.stringify({ method: req.method, path: req.url, logout_token: form.get('logout_token') })}\n`);
    res.writeHead(Number(args.status), { 'cache-control': 'no-store' }).end();
  });
});
server.listen(Number(args.port), '127.0.0.1', () => {
  const tmp = `${args['port-file']}.tmp-${process.pid}`;
  writeFileSync(tmp, `${server.address().port}\n`);
  renameSync(tmp, args['port-file']);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
