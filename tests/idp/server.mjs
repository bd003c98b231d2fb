#!/usr/bin/env node
// wgate's test OpenID Connect provider: oidc-provider 9 on loopback, with the
// people, clients, keys and lifetimes of a JSON config, and (with --test-api)
// a test-control API under /test/. See tests/idp/README.md.
//
//   node server.mjs --config FILE [--port N] [--host 127.0.0.1] [--test-api]
//                   [--port-file FILE]
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

// oidc-provider 9 uses crypto.hash (Node 20.12) and URL.parse (Node 20.18);
// on an older Node it fails deep inside a request. Say so up front.
const MIN_NODE = [20, 18];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
  process.stderr.write(`test-idp: Node.js ${process.versions.node} is too old for oidc-provider 9 `
    + `(needs >= ${MIN_NODE.join('.')}); see tests/idp/README.md\n`);
  process.exit(3);
}

const usage = `usage: node server.mjs --config FILE [--port N] [--host ADDR] [--test-api] [--port-file FILE]
  --config FILE     clients, users, keys and lifetimes (JSON; see tests/idp/README.md)
  --port N          TCP port on the host address; 0 (the default) picks a free one
  --host ADDR       a loopback address (127.0.0.0/8 or ::1); default 127.0.0.1
  --test-api        serve the test-control API under /test/
  --port-file FILE  once ready, write the port to FILE (written atomically)`;

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'test-api': { type: 'boolean', default: false },
      'port-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  process.stderr.write(`test-idp: ${err.message}\n${usage}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!args.config) {
  process.stderr.write(`test-idp: --config is required\n${usage}\n`);
  process.exit(2);
}
const port = Number(args.port);
if (!/^\d+$/.test(args.port) || port > 65535) {
  process.stderr.write(`test-idp: --port must be 0..65535, not "${args.port}"\n`);
  process.exit(2);
}
// Loopback only: this provider accepts made-up passwords over plain HTTP.
const host = args.host;
const loopback = (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && host === '::1');
if (!loopback) {
  process.stderr.write(`test-idp: --host must be a loopback address (127.0.0.0/8 or ::1), not "${host}"\n`);
  process.exit(2);
}

const { loadConfig } = await import('./lib/config.mjs');
let config;
try {
  config = loadConfig(args.config);
} catch (err) {
  process.stderr.write(`test-idp: ${err.message}\n`);
  process.exit(2);
}
const { TestIdp } = await import('./lib/idp.mjs');
const { testApi } = await import('./lib/test_api.mjs');

let idp;
let control;
const server = createServer((req, res) => {
  if (!idp) {
    res.writeHead(503, { 'retry-after': '1' }).end('starting\n');
    return;
  }
  if (control && (req.url === '/test' || req.url.startsWith('/test/'))) {
    control(req, res);
    return;
  }
  // The current Provider: a key rotation replaces it.
  idp.callback(req, res);
});
server.on('error', (err) => {
  process.stderr.write(`test-idp: cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, async () => {
  const actual = server.address().port;
  const issuer = `http://${isIP(host) === 6 ? `[${host}]` : host}:${actual}`;
  try {
    const made = new TestIdp(config, issuer);
    await made.validateClients();
    idp = made;
  } catch (err) {
    process.stderr.write(`test-idp: ${args.config}: oidc-provider refused the configuration: ${err.message}\n`);
    process.exit(2);
  }
  if (args['test-api']) control = testApi(idp);
  if (args['port-file']) {
    const tmp = `${args['port-file']}.tmp-${process.pid}`;
    writeFileSync(tmp, `${actual}\n`);
    renameSync(tmp, args['port-file']);
  }
  process.stdout.write(`test-idp: listening on ${issuer} (issuer ${issuer}${control ? ', test API on /test/' : ''})\n`);
});

function stop(signal) {
  process.stderr.write(`test-idp: ${signal}, stopping\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
