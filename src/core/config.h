// Config: wgate.toml, loaded and validated.
//
// Example (see examples/wgate.toml):
//
//   [server]
//   endpoint  = "vpn.example.com"   # what clients dial; host or IP
//   store     = "/var/lib/wgate/wgate.db"
//   state_dir = "/var/lib/wgate"    # interface private keys (0600)
//   backend   = "auto"              # auto | kernel | userspace
//   resync    = "2s"                # full observation of the data plane this often
//   allow_to_gateway = ["udp/53", "tcp/22", "tcp/8000-8100", "icmp"]
//
//   [pool]
//   ipv4     = "10.100.0.0/24"
//   per_user = 4                    # addresses per person: a /30 each, one per device
//
//   [networks]
//   vpc-a = ["10.1.0.0/16"]
//
//   [groups.dev]
//   networks  = ["vpc-a"]
//   interface = "wg-dev"
//   port      = 51820
//   table     = 1001
//   key_ttl   = "12h"
//
//   [oidc]                          # SSO (optional): any OIDC provider, Keycloak first
//   issuer     = "https://sso.example.com/realms/corp"
//   client_id  = "wgate"
//   client_secret_file = "/etc/wgate/oidc-secret"   # optional: a public client uses PKCE alone
//   groups_claim = "groups"         # Keycloak's Group Membership mapper: full paths
//   check_interval = "5m"           # how often each person is checked with the provider
//   [oidc.group_map]                # IdP group -> wgate groups
//   "/eng/dev" = ["dev"]
//
//   [web]                           # login pages, self-service page, key API
//   listen     = "127.0.0.1:8080"
//   public_url = "https://vpn.example.com"   # what browsers see (redirect URI: <public_url>/auth/callback)
//
//   [keys]                          # the life of keys born from a login
//   default_ttl = "12h"             # when the group has no key_ttl
//   max_ttl     = "7d"
//   expire_at   = "03:00"           # or: every key expires at this time of day...
//   time_zone   = "Europe/Berlin"   # ...in this zone
//   max_live_per_user = 8
//
//   [alerts]
//   never_activated_after = "30m"
//   expiry_reminder       = "1h"
//   webhook_url = "https://hooks.slack.com/services/..."   # Slack-compatible, optional
//   smtp_url = "smtps://smtp.example.com:465"              # optional, with smtp_from
//
//   [[policy]]                      # optional: per-group / per-person port rules (eBPF filter)
//   group = "dev"                   # or person = "alice"
//   to    = "vpc-a"                 # a name from [networks], or a CIDR inside one
//   allow = ["tcp/22", "tcp/443", "udp/53", "icmp"]
//
//   [metrics]                       # optional: Prometheus /metrics, /healthz, /readyz of `wgate server`
//   listen = "127.0.0.1:9586"
//
//   [log]
//   format = "text"                 # or "json": one JSON object per line (time, level, message)
//
//   [connections]                   # connect/disconnect events from handshakes (docs/OPERATIONS.md)
//   idle_after  = "3m"              # no handshake this long: disconnected (> 2 min rekey + jitter)
//   notify      = false             # also send each event to [alerts] webhook_url
//   stale_after = "30d"             # `wgate device list --stale`
//   disable_stale_after = "90d"     # optional: revoke the keys of devices silent this long
//   [flows]                         # the flow records of the eBPF filter (always bounded)
//   retention   = "30d"             # older records are deleted
//   max_records = 1000000           # and never more than this many
//
// Validation collects every problem, each naming its key and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cidr.h"
#include "core/plan.h"
#include "util/result.h"

namespace wgate {

enum class BackendChoice { automatic, kernel, userspace };

struct NetworkConfig {
  std::string name;
  std::vector<Prefix> prefixes;
};

struct GroupConfig {
  std::string name;
  std::vector<std::string> networks;  // names from [networks]
  std::string interface;
  uint16_t port = 0;
  uint32_t table = 0;
  int64_t key_ttl_seconds = 0;        // 0: keys never expire unless --ttl
};

struct ServerConfig {
  std::string endpoint;               // host clients dial
  std::string store_path = "/var/lib/wgate/wgate.db";
  std::string state_dir = "/var/lib/wgate";
  BackendChoice backend = BackendChoice::automatic;
  uint32_t rule_priority = 1000;      // priority of every `ip rule iif ...`
  uint16_t client_keepalive = 25;     // PersistentKeepalive in client configs
  // How often the daemon observes the whole data plane (devices, routes,
  // rules, firewall) to find drift; store changes and key expiry are
  // applied at once, without waiting for it.
  int64_t resync_seconds = 2;
  // Services on the gateway itself that users may reach through their
  // tunnels: "tcp/22", "udp/53", "tcp/8000-8100" (inclusive range) or "icmp"
  // (echo request, v4 and v6). Empty (the default): users reach nothing on
  // the gateway. In file order, duplicates kept; compile() sorts them.
  std::vector<GatewayService> allow_to_gateway;
};

// SSO with an OpenID Connect provider ([oidc]); absent: no logins, keys
// only through the admin CLI.
struct OidcConfig {
  bool enabled = false;
  std::string issuer;              // exact, as the provider's discovery says it
  std::string client_id;
  std::string client_secret_file;  // optional (confidential client); read at start
  std::vector<std::string> scopes = {"openid", "email", "profile", "offline_access"};
  std::string groups_claim = "groups";
  // IdP group (as the claim carries it, e.g. "/eng/dev") -> wgate groups.
  std::map<std::string, std::vector<std::string>> group_map;
  std::string ca_file;             // extra CA bundle for the provider's TLS
  int64_t check_interval_seconds = 300;
  int64_t leeway_seconds = 60;     // clock skew allowed on exp/iat/nbf
  int64_t http_timeout_seconds = 10;
};

// The web server ([web]): login endpoints, self-service page, key API.
struct WebConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:8080";
  std::string public_url;          // scheme://host[:port], no trailing slash
  std::string tls_cert_file;       // both set: serve TLS; else plain HTTP behind a proxy
  std::string tls_key_file;
  bool behind_tls_proxy = false;   // plain HTTP here, HTTPS to browsers: cookies Secure
  int64_t session_ttl_seconds = 12 * 3600;
  // Logins started per client address: a bucket of login_burst, refilled
  // at login_rate per second. An office behind one NAT address may need more.
  uint32_t login_burst = 30;
  uint32_t login_rate = 2;
  // IdP groups (as the groups claim carries them, e.g. "/wgate-admins")
  // whose members' logins may use the admin API. Empty: only API tokens.
  std::vector<std::string> admin_groups;
  // How often the admin API's live feed (GET /api/v1/events) sends the
  // status, looks for new audit records and checks its caller again.
  int64_t live_interval_seconds = 2;
};

// The life of keys issued at login ([keys]). Admin `key add` keeps --ttl.
struct KeyPolicyConfig {
  int64_t default_ttl_seconds = 12 * 3600;  // when the group has no key_ttl
  int64_t max_ttl_seconds = 7 * 86400;      // no key lives longer, whatever was asked
  // When set, a key expires at this time of day (minutes after local
  // midnight in `time_zone`), at the first such moment at least an hour
  // after its creation, or earlier when its TTL says so.
  std::optional<int> expire_at_minute;
  std::string time_zone = "UTC";
  uint32_t max_live_per_user = 8;            // live keys (not expired, not revoked) per person
};

// Alerts to key owners ([alerts]).
struct AlertConfig {
  int64_t never_activated_after_seconds = 30 * 60;
  int64_t expiry_reminder_seconds = 60 * 60;
  int64_t in_use_window_seconds = 10 * 60;  // a handshake this close to expiry: "in use"
  // The first retry's delay; later ones grow from it (x3, x12, x60, x180,
  // x360: 10 s .. 1 h by default).
  int64_t retry_base_seconds = 10;
  std::string webhook_url;                   // Slack-compatible incoming webhook
  std::string smtp_url;                      // smtp:// or smtps://
  std::string smtp_from;
  std::string smtp_user;
  std::string smtp_password_file;
  bool smtp_starttls = true;
};

// The daemon's metrics and health endpoints ([metrics]); absent: no
// listener. Plain HTTP without authentication: bind it to loopback or a
// management network.
struct MetricsConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:9586";  // numeric ADDRESS:PORT, "[::1]:9586" for IPv6
};

// Log output ([log]); `--log-format` on the command line wins.
enum class LogFormat { text, json };
struct LogConfig {
  LogFormat format = LogFormat::text;
};

// Connection events and stale devices ([connections]), derived from the
// handshakes the daemon observes (agent/connection_tracker.h).
struct ConnectionsConfig {
  // A device counts as connected while its newest handshake is younger
  // than this. WireGuard re-handshakes every 2 minutes (REKEY_AFTER_TIME,
  // 120 s) while traffic flows, a little later with its jitter and a lost
  // initiation (REKEY_TIMEOUT 5 s, up to 3 tries): 3 minutes leaves room for
  // that without calling a busy device disconnected. Must be > 120 s.
  int64_t idle_after_seconds = 180;
  // Send each connect/disconnect to the webhook channel too (through the
  // alert outbox; delivered by `wgate web`'s dispatcher). Needs
  // [alerts] webhook_url.
  bool notify = false;
  // A device whose newest handshake (or, never seen, whose creation) is
  // older than this is listed by `wgate device list --stale`.
  int64_t stale_after_seconds = 30 * 86400;
  // When set, the daemon revokes the live keys of devices stale this long
  // (audited as key.revoke by actor "agent", plus device.disable_stale).
  std::optional<int64_t> disable_stale_after_seconds;
};

// One [[policy]]: what the members of a group, or one person, may reach of
// one network, by protocol and port; enforced by the eBPF filter in front
// of the group tables and the nftables guard (docs/BPF_FILTER.md):
//  - a group without policies keeps every protocol and port to its networks;
//  - once a group has policies, its members get only what they allow;
//  - a person's policies add to their group's, but only within networks
//    that group routes (never more than the group's table and guard allow).
struct PolicyConfig {
  size_t number = 0;                 // 1-based position among the [[policy]] tables
  std::string group;                 // exactly one of group / person
  std::string person;
  std::string to;                    // as written: a network name or a CIDR
  std::string network;               // the [networks] name `to` is, or lies in
  std::vector<Prefix> destinations;  // the network's prefixes, or the CIDR
  // tcp/udp port ranges; "icmp" here allows the whole ICMP protocol (echo,
  // and errors about the allowed flows, which the filter checks anyway).
  std::vector<GatewayService> allow;
  // "policy #2 (group dev -> vpc-a: tcp/22, icmp)"
  std::string describe() const;
};

// How long flow records are kept ([flows]). Applies without the section
// too: flow records never grow without bound.
struct FlowsConfig {
  int64_t retention_seconds = 30 * 86400;
  int64_t max_records = 1'000'000;
};

struct Config {
  ServerConfig server;
  OidcConfig oidc;
  WebConfig web;
  KeyPolicyConfig keys;
  AlertConfig alerts;
  MetricsConfig metrics;
  LogConfig log;
  ConnectionsConfig connections;
  FlowsConfig flows;
  std::optional<Prefix> pool_v4;
  std::optional<Prefix> pool_v6;        // rejected by validation today (IPv6 is not supported yet)
  uint32_t per_user = 4;                // addresses per person (a power of two): their devices' slots
  std::vector<NetworkConfig> networks;  // sorted by name
  std::vector<GroupConfig> groups;      // sorted by name
  std::vector<PolicyConfig> policies;   // in file order
  // SHA-256 (hex) of the text this config was parsed from: tells whether a
  // file on disk is what the daemon runs (service/running_config.h).
  std::string source_sha256;

  const GroupConfig* find_group(std::string_view name) const;
  const NetworkConfig* find_network(std::string_view name) const;
  // The pool of the family users get addresses from (IPv4 today).
  const Prefix& user_pool() const { return *pool_v4; }
};

// Parses and validates TOML text. `origin` names the source in errors.
Result<Config> parse_config(std::string_view toml_text, const std::string& origin);
Result<Config> load_config(const std::string& path);

// Parses "90s", "15m", "12h", "7d", or a plain number of seconds.
Result<int64_t> parse_duration(std::string_view text);
std::string format_duration(int64_t seconds);

}  // namespace wgate
