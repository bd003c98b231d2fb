#!/usr/bin/env bash
# Checks examples/keycloak-realm-wgate.json against what docs/keycloak.md says
# and against the shape of Keycloak's realm representation (only known field
# names; attributes and mapper config as strings, as Keycloak's Map<String,
# String> wants them; users' groups naming groups of the file by full path).
# Keycloak itself cannot run here, so this is a structural check, not an import.
set -euo pipefail
FILE=${1:-$(cd "$(dirname "$0")/../.." && pwd)/examples/keycloak-realm-wgate.json}
command -v jq >/dev/null || { echo "FAIL: jq is missing (scripts/install-deps.sh installs it)"; exit 1; }

passed=0
failed=0
check() { # check "description" jq-filter: the filter must yield true
  if jq -e "$2" "$FILE" >/dev/null 2>&1; then
    echo "ok - $1"; passed=$((passed + 1))
  else
    echo "not ok - $1"; failed=$((failed + 1))
  fi
}

check "valid JSON, realm wgate-dev, enabled" '.realm == "wgate-dev" and .enabled == true'
# Field names of Keycloak's RealmRepresentation, ClientRepresentation,
# UserRepresentation, GroupRepresentation, CredentialRepresentation and
# ProtocolMapperRepresentation that this file may use.
check "realm: only known fields" '(keys - ["realm","displayName","enabled","sslRequired","accessTokenLifespan",
  "ssoSessionIdleTimeout","ssoSessionMaxLifespan","offlineSessionIdleTimeout","revokeRefreshToken",
  "oauth2DeviceCodeLifespan","oauth2DevicePollingInterval","groups","users","clients"]) == []'
check "clients: only known fields" '[.clients[] | keys - ["clientId","name","description","enabled","protocol","publicClient",
  "clientAuthenticatorType","secret","redirectUris","webOrigins","standardFlowEnabled","implicitFlowEnabled",
  "directAccessGrantsEnabled","serviceAccountsEnabled","consentRequired","fullScopeAllowed","frontchannelLogout",
  "attributes","protocolMappers"]] | flatten == []'
check "users: only known fields" '[.users[] | keys - ["username","enabled","email","emailVerified","firstName","lastName",
  "credentials","realmRoles","groups"]] | flatten == []'
check "groups: only known fields, at every level" '[.groups | .. | objects | select(has("name")) | keys - ["name","path","subGroups"]] | flatten == []'
check "credentials: password, not temporary" '[.users[].credentials[] | (keys == ["temporary","type","value"]) and .type == "password" and .temporary == false] | all'
check "mappers: only known fields" '[.clients[].protocolMappers[] | keys - ["name","protocol","protocolMapper","consentRequired","config"]] | flatten == []'
check "client attributes and mapper config are strings" \
  '[.clients[] | (.attributes // {} | to_entries[] | .value | type), (.protocolMappers[]?.config | to_entries[] | .value | type)] | all(. == "string")'

check "groups /eng/dev and /eng/ops, each path = parent path + / + name" \
  '([.groups[] | . as $g | $g.path == "/" + $g.name, ($g.subGroups[] | .path == $g.path + "/" + .name)] | all)
   and ([.groups[] | .. | objects | .path? // empty] | contains(["/eng/dev","/eng/ops"]))'
check "every user's groups are groups of the file, by full path" \
  '[.groups[] | .. | objects | .path? // empty] as $paths | [.users[].groups[] | IN($paths[])] | all'
check "alice in /eng/dev, bob in /eng/ops, both enabled, dev-only passwords" \
  '([.users[] | {(.username): .groups}] | add == {"alice": ["/eng/dev"], "bob": ["/eng/ops"]})
   and ([.users[] | .enabled and (.credentials[0].value | startswith("dev-only-"))] | all)'

WG='.clients[] | select(.clientId == "wgate")'
check "wgate: confidential, code flow only (+ device), no implicit, no password grant" \
  "[$WG | .publicClient == false and (.secret | length > 0) and .clientAuthenticatorType == \"client-secret\"
     and .standardFlowEnabled and (.implicitFlowEnabled | not) and (.directAccessGrantsEnabled | not)
     and (.serviceAccountsEnabled | not) and (.consentRequired | not)] == [true]"
check "wgate: redirect URI https://…/auth/callback, exact" "[$WG | .redirectUris == [\"https://wgate.example.com/auth/callback\"]] == [true]"
check "wgate: PKCE S256, device grant on" \
  "[$WG | .attributes[\"pkce.code.challenge.method\"] == \"S256\" and .attributes[\"oauth2.device.authorization.grant.enabled\"] == \"true\"] == [true]"
check "wgate: back-channel logout to /auth/backchannel-logout with session required, front-channel off" \
  "[$WG | .frontchannelLogout == false and .attributes[\"backchannel.logout.url\"] == \"https://wgate.example.com/auth/backchannel-logout\"
     and .attributes[\"backchannel.logout.session.required\"] == \"true\"] == [true]"
check "wgate-cli: public, device grant only" \
  '[.clients[] | select(.clientId == "wgate-cli") | .publicClient and (.secret == null) and (.standardFlowEnabled | not)
     and (.implicitFlowEnabled | not) and (.directAccessGrantsEnabled | not)
     and .attributes["oauth2.device.authorization.grant.enabled"] == "true"] == [true]'
check "both clients: refresh tokens on" '[.clients[] | .attributes["use.refresh.tokens"] == "true"] | all'
check "both clients: Group Membership mapper, claim groups, full path, in ID token and userinfo" \
  '[.clients[] | [.protocolMappers[] | select(.protocolMapper == "oidc-group-membership-mapper") | .protocol == "openid-connect"
     and .config["claim.name"] == "groups" and .config["full.path"] == "true"
     and .config["id.token.claim"] == "true" and .config["userinfo.token.claim"] == "true"] == [true]] | all'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
