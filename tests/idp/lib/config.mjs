// Loads and checks the test IdP's JSON configuration (schema: tests/idp/README.md).
// Every problem is reported with the key it concerns; unknown keys are errors,
// so a typo in a test's config never silently falls back to a default.
import { readFileSync } from 'node:fs';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'];

const TTL_KEYS = {
  id_token: 'IdToken',
  access_token: 'AccessToken',
  refresh_token: 'RefreshToken',
  device_code: 'DeviceCode',
  authorization_code: 'AuthorizationCode',
  session: 'Session',
  grant: 'Grant',
  interaction: 'Interaction',
};

const TOP_KEYS = new Set([
  'clients', 'users', 'signing_algs', 'ttl', 'groups_claim', 'groups_scope', 'groups_full_path',
  'rotate_refresh_tokens', 'device_interval', 'description',
]);
const USER_KEYS = new Set(['sub', 'username', 'password', 'email', 'email_verified', 'name', 'groups', 'enabled']);
// Client keys of this IdP, not oidc-provider metadata; removed before the
// client reaches oidc-provider.
const CLIENT_EXTRA_KEYS = new Set(['skip_consent']);

class ConfigError extends Error {}

function fail(message) {
  throw new ConfigError(message);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function nonEmptyString(v) {
  return typeof v === 'string' && v.length > 0;
}

function stringArray(v) {
  return Array.isArray(v) && v.every(nonEmptyString);
}

function checkUser(u, i) {
  const at = `users[${i}]`;
  if (!isObject(u)) fail(`${at}: must be an object`);
  for (const k of Object.keys(u)) if (!USER_KEYS.has(k)) fail(`${at}.${k}: unknown key`);
  if (!nonEmptyString(u.username)) fail(`${at}.username: required, a non-empty string`);
  if (!nonEmptyString(u.password)) fail(`${at}.password: required, a non-empty string`);
  if (u.sub !== undefined && !nonEmptyString(u.sub)) fail(`${at}.sub: must be a non-empty string`);
  for (const k of ['email', 'name']) {
    if (u[k] !== undefined && !nonEmptyString(u[k])) fail(`${at}.${k}: must be a non-empty string`);
  }
  for (const k of ['email_verified', 'enabled']) {
    if (u[k] !== undefined && typeof u[k] !== 'boolean') fail(`${at}.${k}: must be true or false`);
  }
  const groups = u.groups ?? [];
  if (!stringArray(groups)) fail(`${at}.groups: must be an array of group paths`);
  groups.forEach((g, j) => {
    if (!g.startsWith('/') || g.endsWith('/') || g.includes('//')) {
      fail(`${at}.groups[${j}]: "${g}" is not a full group path like "/eng/dev"`);
    }
  });
  return {
    sub: u.sub ?? u.username,
    username: u.username,
    password: u.password,
    email: u.email,
    email_verified: u.email_verified ?? (u.email !== undefined),
    name: u.name ?? u.username,
    groups: [...groups],
    enabled: u.enabled ?? true,
  };
}

function checkClient(c, i) {
  const at = `clients[${i}]`;
  if (!isObject(c)) fail(`${at}: must be an object`);
  if (!nonEmptyString(c.client_id)) fail(`${at}.client_id: required, a non-empty string`);
  const metadata = { ...c };
  for (const k of CLIENT_EXTRA_KEYS) delete metadata[k];
  if (c.skip_consent !== undefined && typeof c.skip_consent !== 'boolean') {
    fail(`${at}.skip_consent: must be true or false`);
  }

  metadata.grant_types ??= ['authorization_code', 'refresh_token', DEVICE_GRANT];
  if (!stringArray(metadata.grant_types)) fail(`${at}.grant_types: must be an array of strings`);
  const code = metadata.grant_types.includes('authorization_code');
  metadata.response_types ??= code ? ['code'] : [];
  metadata.redirect_uris ??= [];
  if (!stringArray(metadata.redirect_uris)) fail(`${at}.redirect_uris: must be an array of URLs`);
  if (code && metadata.redirect_uris.length === 0) {
    fail(`${at}.redirect_uris: required for a client with the authorization_code grant`);
  }
  metadata.token_endpoint_auth_method ??= c.client_secret ? 'client_secret_basic' : 'none';
  if (metadata.token_endpoint_auth_method === 'none' && c.client_secret !== undefined) {
    fail(`${at}: a public client (token_endpoint_auth_method "none") has no client_secret`);
  }
  if (metadata.token_endpoint_auth_method !== 'none' && !nonEmptyString(c.client_secret)) {
    fail(`${at}.client_secret: required for token_endpoint_auth_method "${metadata.token_endpoint_auth_method}"`);
  }
  if (metadata.backchannel_logout_uri !== undefined) {
    if (!nonEmptyString(metadata.backchannel_logout_uri)) fail(`${at}.backchannel_logout_uri: must be a URL`);
    // Keycloak's default for "Backchannel logout session required" is on.
    metadata.backchannel_logout_session_required ??= true;
  }
  return { metadata, skipConsent: c.skip_consent ?? true };
}

export function parseConfig(raw, source = 'config') {
  try {
    if (!isObject(raw)) fail('the configuration must be a JSON object');
    for (const k of Object.keys(raw)) if (!TOP_KEYS.has(k)) fail(`${k}: unknown key`);

    if (!Array.isArray(raw.clients) || raw.clients.length === 0) fail('clients: required, a non-empty array');
    const clients = raw.clients.map(checkClient);
    const clientIds = new Set();
    clients.forEach(({ metadata }, i) => {
      if (clientIds.has(metadata.client_id)) fail(`clients[${i}].client_id: "${metadata.client_id}" appears twice`);
      clientIds.add(metadata.client_id);
    });

    if (!Array.isArray(raw.users) || raw.users.length === 0) fail('users: required, a non-empty array');
    const users = raw.users.map(checkUser);
    const names = new Set();
    users.forEach((u, i) => {
      for (const id of new Set([u.sub, u.username])) {
        if (names.has(id)) fail(`users[${i}]: "${id}" names two users (username and sub must be unique across users)`);
        names.add(id);
      }
    });

    const signingAlgs = raw.signing_algs ?? ['RS256'];
    if (!stringArray(signingAlgs) || signingAlgs.length === 0) fail('signing_algs: must be a non-empty array');
    signingAlgs.forEach((a, i) => {
      if (!SIGNING_ALGS.includes(a)) fail(`signing_algs[${i}]: "${a}" is not one of ${SIGNING_ALGS.join(', ')}`);
    });
    if (new Set(signingAlgs).size !== signingAlgs.length) fail('signing_algs: an algorithm appears twice');

    const ttl = {};
    if (raw.ttl !== undefined) {
      if (!isObject(raw.ttl)) fail('ttl: must be an object');
      for (const [k, v] of Object.entries(raw.ttl)) {
        if (!TTL_KEYS[k]) fail(`ttl.${k}: unknown key (known: ${Object.keys(TTL_KEYS).join(', ')})`);
        if (!Number.isInteger(v) || v <= 0) fail(`ttl.${k}: must be a positive whole number of seconds`);
        ttl[TTL_KEYS[k]] = v;
      }
    }

    const groupsClaim = raw.groups_claim ?? 'groups';
    if (!nonEmptyString(groupsClaim)) fail('groups_claim: must be a non-empty string');
    const groupsScope = raw.groups_scope ?? null;
    if (groupsScope !== null && !nonEmptyString(groupsScope)) fail('groups_scope: must be null (always) or a scope name');
    if (['openid', 'offline_access'].includes(groupsScope)) fail(`groups_scope: "${groupsScope}" is reserved; use null for "always"`);
    const groupsFullPath = raw.groups_full_path ?? true;
    if (typeof groupsFullPath !== 'boolean') fail('groups_full_path: must be true or false');
    const rotateRefreshTokens = raw.rotate_refresh_tokens ?? false;
    if (typeof rotateRefreshTokens !== 'boolean') fail('rotate_refresh_tokens: must be true or false');
    const deviceInterval = raw.device_interval ?? null;
    if (deviceInterval !== null && (!Number.isInteger(deviceInterval) || deviceInterval < 1 || deviceInterval > 60)) {
      fail('device_interval: must be a whole number of seconds from 1 to 60 (or absent)');
    }

    return {
      clients, users, signingAlgs, ttl, groupsClaim, groupsScope, groupsFullPath, rotateRefreshTokens,
      deviceInterval,
    };
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new Error(`${source}: ${err.message}`);
    }
    throw err;
  }
}

export function loadConfig(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read: ${err.message}`);
  }
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${err.message}`);
  }
  return parseConfig(raw, path);
}
