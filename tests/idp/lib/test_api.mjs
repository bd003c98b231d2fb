// The test-control API (server.mjs --test-api): JSON over HTTP under /test/
// on the IdP's own loopback listener. Every endpoint is documented in
// tests/idp/README.md.

class HttpError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new HttpError(413, 'invalid_request', 'body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let body;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid_request', `body is not JSON: ${err.message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_request', 'body must be a JSON object');
  }
  return body;
}

function send(res, status, body) {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function checkKeys(body, allowed) {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new HttpError(400, 'invalid_request', `unknown field "${k}" (known: ${allowed.join(', ') || 'none'})`);
  }
}

function optionalBool(body, key, fallback) {
  if (body[key] === undefined) return fallback;
  if (typeof body[key] !== 'boolean') throw new HttpError(400, 'invalid_request', `"${key}" must be true or false`);
  return body[key];
}

function userView(idp, u) {
  return {
    sub: u.sub,
    username: u.username,
    email: u.email,
    name: u.name,
    groups: [...u.groups],
    groups_claim: idp.groupsClaimValue(u),
    enabled: u.enabled,
  };
}

// The token endpoint's refusals (oidc-provider's `grant.error` event), so a
// test can tell why a code was refused: the answer itself only says
// `invalid_grant` / "grant request is invalid", the reason is oidc-provider's
// error_detail ("code_verifier does not match code_challenge", "authorization
// code already consumed", ...). The newest 200 are kept.
const TOKEN_ERRORS_KEPT = 200;

function tokenErrorLog(idp) {
  const entries = [];
  let seq = 0;
  const watched = new WeakSet();
  return {
    // A key rotation builds a new Provider: listen on each one once.
    watch() {
      const { provider } = idp;
      if (!provider || watched.has(provider)) return;
      watched.add(provider);
      provider.on('grant.error', (ctx, err) => {
        // Polling devices hear these until someone approves: not refusals.
        if (['authorization_pending', 'slow_down'].includes(err.error)) return;
        entries.push({
          seq: ++seq,
          at: new Date().toISOString(),
          client_id: ctx.oidc?.client?.clientId ?? null,
          grant_type: ctx.oidc?.params?.grant_type ?? null,
          error: err.error ?? err.message,
          error_description: err.error_description ?? null,
          detail: err.error_detail ?? null,
        });
        if (entries.length > TOKEN_ERRORS_KEPT) entries.shift();
      });
    },
    after(n) {
      return { errors: entries.filter((e) => e.seq > n), last_seq: seq };
    },
  };
}

export function testApi(idp) {
  const tokenErrors = tokenErrorLog(idp);
  tokenErrors.watch();
  const userOr404 = (name) => {
    const user = idp.findUser(decodeURIComponent(name));
    if (!user) throw new HttpError(404, 'not_found', `no user "${decodeURIComponent(name)}"`);
    return user;
  };

  // [method, pattern, handler(match, body)]
  const routes = [
    ['GET', /^\/test\/users$/, () => ({ users: idp.users.map((u) => userView(idp, u)) })],
    ['GET', /^\/test\/users\/([^/]+)$/, ([, name]) => userView(idp, userOr404(name))],
    ['POST', /^\/test\/users\/([^/]+)\/(disable|enable)$/, ([, name, action], body) => {
      checkKeys(body, []);
      const user = userOr404(name);
      user.enabled = action === 'enable';
      process.stderr.write(`test-idp: ${user.username} ${action}d\n`);
      return userView(idp, user);
    }],
    ['PUT', /^\/test\/users\/([^/]+)\/groups$/, ([, name], body) => {
      checkKeys(body, ['groups']);
      const user = userOr404(name);
      const { groups } = body;
      if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && /^(\/[^/]+)+$/.test(g))) {
        throw new HttpError(400, 'invalid_request', '"groups" must be an array of full group paths like "/eng/dev"');
      }
      user.groups = [...groups];
      process.stderr.write(`test-idp: ${user.username} groups now ${JSON.stringify(groups)}\n`);
      return userView(idp, user);
    }],
    ['GET', /^\/test\/users\/([^/]+)\/sessions$/, ([, name]) => ({ sessions: idp.sessionsOf(userOr404(name)) })],
    ['POST', /^\/test\/users\/([^/]+)\/backchannel-logout$/, async ([, name], body) => {
      checkKeys(body, ['sid', 'end_session']);
      if (body.sid !== undefined && (typeof body.sid !== 'string' || !body.sid)) {
        throw new HttpError(400, 'invalid_request', '"sid" must be a non-empty string');
      }
      const user = userOr404(name);
      return idp.backchannelLogout(user, { sid: body.sid, endSession: optionalBool(body, 'end_session', true) });
    }],
    ['GET', /^\/test\/keys$/, () => ({ signing: idp.keys.map((k) => ({ kid: k.kid, alg: k.alg })), jwks: idp.jwks() })],
    ['POST', /^\/test\/keys\/rotate$/, (m, body) => {
      checkKeys(body, ['retire_old']);
      const kids = idp.rotateKeys({ retireOld: optionalBool(body, 'retire_old', false) });
      return { new_kids: kids, jwks: idp.jwks() };
    }],
    ['GET', /^\/test\/token-errors$/, (m, body, url) => {
      const after = url.searchParams.get('after') ?? '0';
      if (!/^\d+$/.test(after)) throw new HttpError(400, 'invalid_request', '"after" must be a sequence number (0 or more)');
      return tokenErrors.after(Number(after));
    }],
    ['POST', /^\/test\/device\/(approve|deny)$/, async ([, action], body) => {
      checkKeys(body, action === 'approve' ? ['user_code', 'user'] : ['user_code']);
      if (typeof body.user_code !== 'string' || !body.user_code) {
        throw new HttpError(400, 'invalid_request', '"user_code" is required');
      }
      let user;
      if (action === 'approve') {
        if (typeof body.user !== 'string' || !body.user) throw new HttpError(400, 'invalid_request', '"user" is required');
        user = userOr404(encodeURIComponent(body.user));
      }
      const result = await idp.approveDevice(body.user_code, user, { deny: action === 'deny' });
      if (result.error) throw new HttpError(result.status, result.error, result.error_description);
      return result.body;
    }],
  ];

  return async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    try {
      const matching = routes.filter(([, re]) => re.test(path));
      if (matching.length === 0) throw new HttpError(404, 'not_found', `no test endpoint ${path}`);
      const route = matching.find(([method]) => method === req.method);
      if (!route) {
        res.setHeader('allow', matching.map(([m]) => m).join(', '));
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}`);
      }
      const body = req.method === 'GET' ? {} : await readJson(req);
      send(res, 200, await route[2](path.match(route[1]), body, url));
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, { error: err.error, error_description: err.message });
      } else {
        process.stderr.write(`test-idp: test API ${req.method} ${path}: ${err.stack}\n`);
        send(res, 500, { error: 'server_error', error_description: err.message });
      }
    } finally {
      tokenErrors.watch(); // after a key rotation: the new Provider
    }
  };
}
