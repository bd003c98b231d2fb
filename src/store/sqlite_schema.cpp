// The SQLite schema of the store and its migrations.
#include "store/sqlite_schema.h"

#include <iterator>
#include <string>

namespace wgate::sqlite {
namespace {

// Migration i (0-based) takes the schema from version i to i + 1; the schema
// version lives in PRAGMA user_version. Append only: never edit a migration
// that has shipped.
constexpr const char* kMigrations[] = {
    // 1: initial schema.
    R"sql(
CREATE TABLE users (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL UNIQUE,
  email      TEXT    NOT NULL DEFAULT '',
  disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at INTEGER NOT NULL
);
CREATE TABLE memberships (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  group_name TEXT    NOT NULL,
  PRIMARY KEY (user_id, group_name)
);
CREATE TABLE keys (
  id                INTEGER PRIMARY KEY,
  user_id           INTEGER NOT NULL REFERENCES users(id),
  group_name        TEXT    NOT NULL,
  public_key        TEXT    NOT NULL UNIQUE,  -- base64
  label             TEXT    NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL,
  expires_at        INTEGER NOT NULL DEFAULT 0,  -- 0: never
  revoked_at        INTEGER,
  last_handshake_at INTEGER
);
CREATE INDEX keys_by_user ON keys(user_id);
CREATE TABLE leases (
  id       INTEGER PRIMARY KEY,
  user_id  INTEGER NOT NULL REFERENCES users(id),
  address  TEXT    NOT NULL,  -- canonical text form (inet_ntop)
  family   INTEGER NOT NULL CHECK (family IN (4, 6)),
  from_ts  INTEGER NOT NULL,
  until_ts INTEGER
);
-- The database itself guarantees what IPAM decides: an address has at most
-- one current holder, a user at most one current address per family.
CREATE UNIQUE INDEX leases_current_address ON leases(address) WHERE until_ts IS NULL;
CREATE UNIQUE INDEX leases_current_user ON leases(user_id, family) WHERE until_ts IS NULL;
CREATE INDEX leases_by_address ON leases(address, from_ts);
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  subject TEXT    NOT NULL,
  detail  TEXT    NOT NULL DEFAULT '{}'  -- JSON object
);
)sql",
    // 2: several devices per person. A lease is a block of addresses (a
    // person's), each device one address in it (its slot). Every existing
    // key becomes a device of its owner named after the key's label (keys
    // with one label share a device; unlabeled keys share "default"), so no
    // key, lease or history row is lost. A device whose keys were all
    // revoked is recorded as removed at its last revocation: it must not
    // take one of the person's per_user slots from a device in use (the
    // current devices are numbered from 0; a removed one keeps slot 0, the
    // one address all of a person's keys shared before). The agent records
    // the interfaces it creates.
    R"sql(
ALTER TABLE leases ADD COLUMN prefix_len INTEGER NOT NULL DEFAULT 32;
UPDATE leases SET prefix_len = 128 WHERE family = 6;
CREATE TABLE devices (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  name       TEXT    NOT NULL,
  slot       INTEGER NOT NULL CHECK (slot >= 0),
  created_at INTEGER NOT NULL,
  removed_at INTEGER
);
CREATE UNIQUE INDEX devices_current_name ON devices(user_id, name) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX devices_current_slot ON devices(user_id, slot) WHERE removed_at IS NULL;
INSERT INTO devices (user_id, name, slot, created_at, removed_at)
  SELECT user_id, device,
         CASE WHEN removed_at IS NULL
              THEN ROW_NUMBER() OVER (PARTITION BY user_id, removed_at IS NULL ORDER BY first_at, device) - 1
              ELSE 0 END,
         first_at, removed_at
  FROM (SELECT user_id, CASE WHEN label = '' THEN 'default' ELSE label END AS device, MIN(created_at) AS first_at,
               CASE WHEN COUNT(revoked_at) = COUNT(*) THEN MAX(revoked_at) END AS removed_at
        FROM keys GROUP BY user_id, device);
ALTER TABLE keys ADD COLUMN device_id INTEGER REFERENCES devices(id);
UPDATE keys SET device_id = (SELECT d.id FROM devices d WHERE d.user_id = keys.user_id AND
                             d.name = CASE WHEN keys.label = '' THEN 'default' ELSE keys.label END);
CREATE INDEX keys_by_device ON keys(device_id);
CREATE TABLE interfaces (
  name       TEXT    PRIMARY KEY,
  created_at INTEGER NOT NULL
);
)sql",
    // 3: SSO. People known to an OpenID Connect provider (identities), the
    // web sessions their logins open (with the refresh token the periodic
    // check uses), pending logins (state, nonce and PKCE verifier; device
    // grants), logout tokens seen (jti replay), where a key came from, and
    // the alert outbox.
    R"sql(
CREATE TABLE identities (
  issuer     TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  last_login_at INTEGER,
  PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX identities_by_user ON identities(user_id, issuer);
CREATE TABLE web_sessions (
  id_hash       TEXT    PRIMARY KEY,    -- SHA-256 of the cookie/bearer token, hex
  user_id       INTEGER NOT NULL REFERENCES users(id),
  kind          TEXT    NOT NULL CHECK (kind IN ('browser', 'cli')),
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  csrf_token    TEXT    NOT NULL,
  oidc_sid      TEXT    NOT NULL DEFAULT '',
  refresh_token TEXT    NOT NULL DEFAULT '',
  next_check_at INTEGER NOT NULL DEFAULT 0,
  ended_at      INTEGER,
  end_reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_by_user ON web_sessions(user_id);
CREATE INDEX web_sessions_by_sid ON web_sessions(oidc_sid);
CREATE TABLE login_requests (
  handle_hash   TEXT    PRIMARY KEY,    -- SHA-256 of the state / device login handle, hex
  kind          TEXT    NOT NULL CHECK (kind IN ('browser', 'device')),
  nonce         TEXT    NOT NULL DEFAULT '',
  code_verifier TEXT    NOT NULL DEFAULT '',
  device_code   TEXT    NOT NULL DEFAULT '',
  device_name   TEXT    NOT NULL DEFAULT '',
  poll_interval INTEGER NOT NULL DEFAULT 5,
  next_poll_at  INTEGER NOT NULL DEFAULT 0,
  return_to     TEXT    NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE TABLE logout_tokens (
  jti        TEXT    PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
ALTER TABLE keys ADD COLUMN source TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE keys ADD COLUMN applied_at INTEGER;
ALTER TABLE keys ADD COLUMN expiry_audited INTEGER NOT NULL DEFAULT 0;
CREATE TABLE alert_outbox (
  id              INTEGER PRIMARY KEY,
  dedup_key       TEXT    NOT NULL,
  channel         TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  user_id         INTEGER,
  key_id          INTEGER,
  payload         TEXT    NOT NULL,     -- JSON
  created_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  delivered_at    INTEGER,
  failed_at       INTEGER,              -- gave up
  last_error      TEXT    NOT NULL DEFAULT '',
  UNIQUE (dedup_key, channel)
);
CREATE INDEX alert_outbox_due ON alert_outbox(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
)sql",
    // Admin API: bearer tokens (only their SHA-256 is kept; a name is
    // never reused, so "token:<name>" in the audit trail stays one token),
    // the admin right a login's IdP groups gave its session, and indexes
    // for the keyset pages of the admin API's lists.
    R"sql(
CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL UNIQUE,
  token_hash   TEXT    NOT NULL UNIQUE,   -- SHA-256 of the token, hex
  scope        TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
  created_at   INTEGER NOT NULL,
  created_by   TEXT    NOT NULL,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
ALTER TABLE web_sessions ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
CREATE INDEX leases_by_user ON leases(user_id, id);
CREATE INDEX audit_by_actor ON audit(actor, id);
CREATE INDEX audit_by_action ON audit(action, id);
)sql",
    // Flow records and traffic counters (the eBPF filter's observations).
    // AUTOINCREMENT: an id is never reused, even after the newest rows were
    // pruned, so a page cursor (an id) never points into newer rows.
    // destination_v4 is the destination as a number, for prefix filters by
    // range. The indexes serve `wgate flows`: newest first (the primary
    // key), by person, by time (and pruning), by destination.
    R"sql(
CREATE TABLE flows (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  at               INTEGER NOT NULL,
  user_id          INTEGER,
  user_name        TEXT    NOT NULL DEFAULT '',
  device_name      TEXT    NOT NULL DEFAULT '',
  source           TEXT    NOT NULL,
  destination      TEXT    NOT NULL,
  destination_v4   INTEGER,
  protocol         INTEGER NOT NULL,
  source_port      INTEGER NOT NULL DEFAULT 0,
  destination_port INTEGER NOT NULL DEFAULT 0,
  allowed          INTEGER NOT NULL CHECK (allowed IN (0, 1)),
  reason           TEXT    NOT NULL DEFAULT '',
  interface        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX flows_by_user ON flows(user_name, id);
CREATE INDEX flows_by_time ON flows(at);
CREATE INDEX flows_by_destination ON flows(destination_v4, id);
CREATE TABLE traffic_baselines (
  address      TEXT    PRIMARY KEY,
  epoch        INTEGER NOT NULL,
  pass_packets INTEGER NOT NULL,
  pass_bytes   INTEGER NOT NULL,
  drop_packets INTEGER NOT NULL,
  drop_bytes   INTEGER NOT NULL,
  at           INTEGER NOT NULL
);
CREATE TABLE traffic_totals (
  user_name    TEXT    NOT NULL,
  device_name  TEXT    NOT NULL,
  pass_packets INTEGER NOT NULL DEFAULT 0,
  pass_bytes   INTEGER NOT NULL DEFAULT 0,
  drop_packets INTEGER NOT NULL DEFAULT 0,
  drop_bytes   INTEGER NOT NULL DEFAULT 0,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (user_name, device_name)
);
)sql",
    // Event counters for /metrics (Store::event_counts, store.h): running
    // totals the store adds to in the transaction of the write that is the
    // event, so a scrape reads a few rows, never the tables, and pruning
    // flows never lowers a total. Seeded from what the tables hold now
    // (flows pruned before this migration are not counted; one scan of each
    // table, once).
    R"sql(
CREATE TABLE event_counters (
  counter TEXT    NOT NULL,
  a       TEXT    NOT NULL DEFAULT '',
  b       TEXT    NOT NULL DEFAULT '',
  value   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (counter, a, b)
) WITHOUT ROWID;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'login', substr(action, 7),
         COALESCE(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.kind') END,
                  CASE WHEN action = 'login.failure' THEN subject END, ''),
         count(*)
  FROM audit WHERE action IN ('login.success', 'login.failure') GROUP BY 2, 3;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'alert_sent', channel, kind, count(*) FROM alert_outbox
  WHERE channel <> '' AND delivered_at IS NOT NULL GROUP BY channel, kind;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'alert_failed', channel, kind, count(*) FROM alert_outbox
  WHERE channel <> '' AND failed_at IS NOT NULL GROUP BY channel, kind;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'alert_attempt_failed', channel, kind, sum(attempts - (delivered_at IS NOT NULL)) FROM alert_outbox
  WHERE channel <> '' GROUP BY channel, kind HAVING sum(attempts - (delivered_at IS NOT NULL)) > 0;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'flow', CASE allowed WHEN 1 THEN 'allowed' ELSE 'denied' END, reason, count(*) FROM flows GROUP BY 2, 3;
INSERT INTO event_counters (counter, a, b, value)
  SELECT 'filter_packets', 'allowed', '', COALESCE(sum(pass_packets), 0) FROM traffic_totals
  UNION ALL SELECT 'filter_packets', 'denied', '', COALESCE(sum(drop_packets), 0) FROM traffic_totals
  UNION ALL SELECT 'filter_bytes', 'allowed', '', COALESCE(sum(pass_bytes), 0) FROM traffic_totals
  UNION ALL SELECT 'filter_bytes', 'denied', '', COALESCE(sum(drop_bytes), 0) FROM traffic_totals;
)sql",
    // A person's devices, removed ones included, by user_id: the admin
    // API's key pages read them per person, and the partial indexes above
    // cannot serve a query without `removed_at IS NULL` (bench/run_api.sh:
    // a full scan per person, 7 pages/s at 10,000 people; 61 with this).
    R"sql(
CREATE INDEX devices_by_user ON devices(user_id);
)sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

}  // namespace

int schema_version() { return kSchemaVersion; }

std::vector<std::string_view> migrations() { return {std::begin(kMigrations), std::end(kMigrations)}; }

Status migrate(Db& db) {
  WGATE_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return make_error("its schema version " + std::to_string(version) + " is newer than this wgate understands (" +
                      std::to_string(kSchemaVersion) + "); use a newer wgate");
  }
  for (int next = static_cast<int>(version); next < kSchemaVersion; ++next) {
    WGATE_ASSIGN_OR_RETURN(auto txn, Transaction::begin(db, Transaction::Kind::write));
    // Another process may have migrated while we waited for the lock.
    WGATE_ASSIGN_OR_RETURN(int64_t now_version, db.query_int("PRAGMA user_version"));
    if (now_version > next) continue;
    auto applied = db.exec(kMigrations[next]);
    if (!applied) return applied.error().with_context("migrating to schema version " + std::to_string(next + 1));
    WGATE_TRY(db.exec("PRAGMA user_version = " + std::to_string(next + 1)));
    WGATE_TRY(txn.commit());
  }
  return ok_status();
}

}  // namespace wgate::sqlite
