// The test IdP: oidc-provider configured like the Keycloak client wgate
// expects (docs/keycloak.md), plus the state the test-control API changes
// (people, signing keys). Everything that lives across a key rotation (the
// store of sessions, grants and tokens; the cookie secret; the people) is
// held here; a rotation builds a new Provider over the same state.
import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';

import Provider from 'oidc-provider';

import { Store } from './store.mjs';

const epoch = () => Math.floor(Date.now() / 1000);

function log(message) {
  process.stderr.write(`test-idp: ${message}\n`);
}

function newKey(alg, generation) {
  const kid = `${alg.toLowerCase()}-${generation}-${randomBytes(4).toString('hex')}`;
  let pair;
  switch (alg) {
    case 'RS256':
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = generateKeyPairSync('ed25519');
      break;
    default:
      throw new Error(`unsupported signing algorithm ${alg}`);
  }
  return {
    ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig',
  };
}

function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return pub;
}

function sameSecret(a, b) {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function htmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export class TestIdp {
  constructor(config, issuer) {
    this.config = config;
    this.issuer = issuer;
    this.store = new Store();
    this.cookieKeys = [randomBytes(32).toString('base64url')];
    this.users = config.users.map((u) => ({ ...u, groups: [...u.groups] }));
    this.clientOptions = new Map(config.clients.map((c) => [c.metadata.client_id, c]));
    this.keyGeneration = 1;
    this.keys = config.signingAlgs.map((alg) => newKey(alg, this.keyGeneration));
    this.provider = this.#build();
  }

  // oidc-provider checks static clients' metadata on first use; check them
  // all now, so a bad test config fails at start, naming the client.
  async validateClients() {
    for (const clientId of this.clientOptions.keys()) {
      let client;
      try {
        client = await this.provider.Client.find(clientId);
      } catch (err) {
        throw new Error(`client ${clientId}: ${err.error_description ?? err.message}`);
      }
      if (!client) throw new Error(`client ${clientId}: refused by oidc-provider`);
    }
  }

  // --- people ---------------------------------------------------------------

  // A person by username, sub or email.
  findUser(name) {
    return this.users.find((u) => u.username === name || u.sub === name)
      ?? this.users.find((u) => u.email !== undefined && u.email === name);
  }

  groupsClaimValue(user) {
    if (this.config.groupsFullPath) return [...user.groups];
    return user.groups.map((g) => g.slice(g.lastIndexOf('/') + 1));
  }

  claimsOf(user) {
    const claims = {
      sub: user.sub,
      name: user.name,
      preferred_username: user.username,
      [this.config.groupsClaim]: this.groupsClaimValue(user),
    };
    if (user.email !== undefined) {
      claims.email = user.email;
      claims.email_verified = user.email_verified;
    }
    return claims;
  }

  // Checks a login from the sign-in page: the user's username (or email) and
  // password from the configuration. Returns the user, or a reason.
  checkLogin(login, password) {
    const user = login ? this.findUser(login) : undefined;
    if (!user || !password || !sameSecret(user.password, password)) {
      return { error: 'Invalid username or password.' };
    }
    if (!user.enabled) return { error: 'Account is disabled.' };
    return { user };
  }

  // --- the provider -----------------------------------------------------------

  #claimsConfig() {
    const { groupsClaim, groupsScope } = this.config;
    const claims = {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    };
    if (groupsScope === null) {
      // Like Keycloak's Group Membership mapper on the client itself: the
      // claim is in every ID token and userinfo response.
      claims.openid.push(groupsClaim);
    } else {
      claims[groupsScope] = [...(claims[groupsScope] ?? []), groupsClaim];
    }
    return claims;
  }

  #build() {
    const idp = this;
    const { config } = this;
    const claims = this.#claimsConfig();
    // Explicit lifetimes (oidc-provider's defaults otherwise, which it
    // asks to be set); a grant outlives its refresh tokens.
    const ttl = {
      Session: 14 * 24 * 3600,
      Interaction: 3600,
      ...config.ttl,
    };
    this.sessionTtl = ttl.Session;
    ttl.Grant ??= Math.max(14 * 24 * 3600, typeof ttl.RefreshToken === 'number' ? ttl.RefreshToken : 0);
    this.scopes = ['openid', 'offline_access', ...Object.keys(claims).filter((s) => s !== 'openid')];

    const provider = new Provider(this.issuer, {
      adapter: this.store.adapterClass(),
      clients: config.clients.map((c) => structuredClone(c.metadata)),
      clientDefaults: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        // The first configured algorithm signs ID tokens unless a client
        // asks for another (id_token_signed_response_alg).
        id_token_signed_response_alg: config.signingAlgs[0],
      },
      claims,
      scopes: this.scopes,
      // Authorization code flow only (no implicit or hybrid), as wgate uses it.
      responseTypes: ['code'],
      // Keycloak puts the claims of the requested scopes (email, profile,
      // groups) into the ID token too, not only into userinfo.
      conformIdTokenClaims: false,
      cookies: { keys: this.cookieKeys },
      features: {
        devInteractions: { enabled: true },
        deviceFlow: { enabled: true },
        backchannelLogout: { enabled: true },
        revocation: { enabled: true },
        userinfo: { enabled: true },
        introspection: { enabled: true },
        rpInitiatedLogout: { enabled: true },
      },
      async findAccount(ctx, sub) {
        const user = idp.users.find((u) => u.sub === sub);
        // A disabled person has no account: refresh, device-code and
        // authorization-code grants for them fail with invalid_grant, and
        // their access tokens no longer reach userinfo.
        if (!user || !user.enabled) return undefined;
        return {
          accountId: user.sub,
          async claims() {
            return idp.claimsOf(user);
          },
        };
      },
      // Like Keycloak: a refresh token for every client allowed the grant,
      // with or without offline_access. Without offline_access it ends with
      // the session (a logout ends it), with it it outlives the session.
      async issueRefreshToken(ctx, client) {
        return client.grantTypeAllowed('refresh_token');
      },
      rotateRefreshToken: config.rotateRefreshTokens,
      pkce: { required: () => true },
      jwks: { keys: this.keys.map((k) => structuredClone(k)) },
      ttl,
      // Consent is skipped (as with Keycloak's default "Consent required:
      // off") for clients with skip_consent (the default): the grant covers
      // what the client asked for.
      async loadExistingGrant(ctx) {
        const { client, session } = ctx.oidc;
        const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
        let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
        if (!idp.clientOptions.get(client.clientId)?.skipConsent) return grant;
        if (!grant) grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
        grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
        const requested = ctx.oidc.claims ?? {};
        const claimNames = [...Object.keys(requested.id_token ?? {}), ...Object.keys(requested.userinfo ?? {})];
        if (claimNames.length) grant.addOIDCClaims(claimNames);
        await grant.save();
        return grant;
      },
      // oidc-provider refuses outgoing requests to loopback and private
      // addresses (SSRF protection); the back-channel logout of a test goes
      // to wgate on loopback or in the test's own network namespace.
      fetch(url, options) {
        delete options.dispatcher;
        return globalThis.fetch(url, options);
      },
    });
    provider.use(this.#loginCheck());
    // Keycloak's realm setting "OAuth 2.0 Device Polling Interval" (5 s by
    // default) is sent as the device authorization's `interval`;
    // oidc-provider sends none, which RFC 8628 reads as 5 s.
    if (config.deviceInterval !== null) {
      provider.use(async (ctx, next) => {
        await next();
        if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body?.device_code) {
          ctx.body.interval = config.deviceInterval;
        }
      });
    }
    provider.on('server_error', (ctx, err) => log(`server error on ${ctx.method} ${ctx.path}: ${err.stack}`));
    provider.on('grant.error', (ctx, err) => {
      // Polling devices hear authorization_pending until someone approves.
      if (['authorization_pending', 'slow_down'].includes(err.error)) return;
      log(`token endpoint: ${err.error ?? err.message}${err.error_detail ? ` (${err.error_detail})` : ''}`);
    });
    provider.on('backchannel.error', (ctx, err, client, sub, sid) => log(`back-channel logout to ${client.clientId} for ${sub} (sid ${sid}) failed: ${err.message}`));
    provider.on('backchannel.success', (ctx, client, sub, sid) => log(`back-channel logout sent to ${client.clientId} for ${sub} (sid ${sid})`));
    provider.on('end_session.success', (ctx) => log(`end_session: ${ctx.oidc.session?.accountId ?? 'no session'}`));
    this.callback = provider.callback();
    return provider;
  }

  // devInteractions' sign-in page accepts any login and password. This
  // middleware answers the page's form itself when the interaction is a
  // login: the user and password must be one of the configured people, and
  // the person enabled. Consent forms go on to devInteractions untouched.
  #loginCheck() {
    return async (ctx, next) => {
      if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
      const provider = ctx.app; // the Provider this request runs in
      let details;
      try {
        details = await provider.interactionDetails(ctx.req, ctx.res);
      } catch {
        return next(); // no interaction: devInteractions renders its error
      }
      if (details.prompt.name !== 'login') return next();
      const form = await readForm(ctx.req);
      const checked = this.checkLogin(form.get('login'), form.get('password'));
      if (checked.error) {
        log(`sign-in refused for "${form.get('login') ?? ''}": ${checked.error}`);
        ctx.status = 401;
        ctx.type = 'html';
        ctx.set('cache-control', 'no-store');
        ctx.body = `<!DOCTYPE html><html><head><title>Sign-in failed</title></head><body>
<h1>Sign-in failed</h1><p id="error">${htmlEscape(checked.error)}</p>
<p><a href="${htmlEscape(ctx.path)}">Try again</a></p></body></html>`;
        return undefined;
      }
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
        login: { accountId: checked.user.sub, amr: ['pwd'] },
      }, { mergeWithLastSubmission: false });
      log(`sign-in: ${checked.user.username}`);
      ctx.status = 303;
      ctx.redirect(returnTo);
      return undefined;
    };
  }

  // --- signing keys -------------------------------------------------------------

  jwks() {
    return { keys: this.keys.map(publicJwk) };
  }

  // New keys (one per configured algorithm) go first, so they sign from now
  // on; the old ones stay published for verification unless retireOld.
  rotateKeys({ retireOld = false } = {}) {
    this.keyGeneration += 1;
    const fresh = this.config.signingAlgs.map((alg) => newKey(alg, this.keyGeneration));
    this.keys = retireOld ? fresh : [...fresh, ...this.keys];
    this.provider = this.#build();
    log(`keys rotated: signing with ${fresh.map((k) => k.kid).join(', ')}${retireOld ? ' (old keys retired)' : ''}`);
    return fresh.map((k) => k.kid);
  }

  // --- sessions and logout ---------------------------------------------------------

  sessionsOf(user) {
    return this.store.list('Session')
      .filter(([, s]) => s.accountId === user.sub)
      .map(([, s]) => ({
        uid: s.uid,
        login_time: s.loginTs,
        clients: Object.fromEntries(Object.entries(s.authorizations ?? {})
          .map(([clientId, a]) => [clientId, { sid: a.sid, grant_id: a.grantId, persists_logout: !!a.persistsLogout }])),
      }));
  }

  // What oidc-provider does at end_session for every client of the session,
  // done here for all of a person's sessions (or the one holding `sid`):
  // a logout token to each client's backchannel_logout_uri; then, with
  // endSession, the session ends and its grants are revoked (except those with
  // offline_access), so refresh tokens bound to it fail with invalid_grant.
  async backchannelLogout(user, { sid, endSession = true } = {}) {
    const deliveries = [];
    let sessions = 0;
    for (const [id, s] of this.store.list('Session')) {
      if (s.accountId !== user.sub) continue;
      const authorizations = Object.entries(s.authorizations ?? {});
      if (sid !== undefined && !authorizations.some(([, a]) => a.sid === sid)) continue;
      sessions += 1;
      for (const [clientId, a] of authorizations) {
        const client = await this.provider.Client.find(clientId);
        if (!client?.backchannelLogoutUri) continue;
        const delivery = { client_id: clientId, sid: a.sid, uri: client.backchannelLogoutUri };
        try {
          await client.backchannelLogout(user.sub, a.sid);
          delivery.delivered = true;
          log(`back-channel logout sent to ${clientId} for ${user.username} (sid ${a.sid})`);
        } catch (err) {
          delivery.delivered = false;
          delivery.error = err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message;
          log(`back-channel logout to ${clientId} for ${user.username} failed: ${delivery.error}`);
        }
        deliveries.push(delivery);
      }
      if (endSession) {
        for (const [, a] of authorizations) {
          if (a.grantId && !a.persistsLogout) this.store.revokeGrant(a.grantId);
        }
        this.store.delete('Session', id);
      }
    }
    return { sessions, deliveries };
  }

  // --- device flow without a browser ---------------------------------------------

  // Approves (or denies) a pending device code for a person, as if they had
  // entered the user code, signed in and confirmed in a browser: a session is
  // made (so a back-channel logout reaches this login too) and a grant for the
  // scopes the device asked for.
  async approveDevice(userCode, user, { deny = false } = {}) {
    const { provider } = this;
    const normalized = String(userCode).toUpperCase().replace(/\W/g, '');
    const code = await provider.DeviceCode.findByUserCode(normalized, { ignoreExpiration: true });
    if (!code) return { status: 404, error: 'not_found', error_description: `no device code with user code ${userCode}` };
    if (code.isExpired) return { status: 409, error: 'expired', error_description: 'the device code expired' };
    if (code.error || code.accountId || code.inFlight) {
      return { status: 409, error: 'already_used', error_description: 'the device code was already approved or denied' };
    }
    if (deny) {
      Object.assign(code, { error: 'access_denied', errorDescription: 'End-User aborted interaction' });
      await code.save();
      return { status: 200, body: { denied: true, client_id: code.clientId } };
    }
    if (!user.enabled) return { status: 403, error: 'account_disabled', error_description: `${user.username} is disabled` };

    const client = await provider.Client.find(code.clientId);
    if (!client) return { status: 409, error: 'invalid_client', error_description: `client ${code.clientId} is gone` };
    const scopes = String(code.params?.scope ?? 'openid').split(' ').filter((s) => this.scopes.includes(s));

    const grant = new provider.Grant({ accountId: user.sub, clientId: client.clientId });
    grant.addOIDCScope(scopes.join(' '));
    const grantId = await grant.save();

    const session = new provider.Session();
    session.loginAccount({ accountId: user.sub, amr: ['pwd'] });
    session.ensureClientContainer(client.clientId);
    session.grantIdFor(client.clientId, grantId);
    const offline = scopes.includes('offline_access');
    if (offline) session.authorizationFor(client.clientId).persistsLogout = true;
    await session.save(this.sessionTtl);

    Object.assign(code, {
      accountId: user.sub,
      amr: ['pwd'],
      authTime: session.loginTs ?? epoch(),
      grantId,
      scope: scopes.join(' '),
      sessionUid: session.uid,
    });
    if (!offline) code.expiresWithSession = true;
    if (client.includeSid()) code.sid = session.sidFor(client.clientId);
    await code.save();
    log(`device code ${userCode} approved for ${user.username} (client ${client.clientId}, scope "${code.scope}")`);
    return {
      status: 200,
      body: {
        approved: true, client_id: client.clientId, sub: user.sub, scope: code.scope, session_uid: session.uid, sid: code.sid,
      },
    };
  }
}
