#!/usr/bin/env bash
# Installs everything wgate needs to build, test and run, from Debian's
# packages. Idempotent: skips apt when everything is already there.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # the eBPF filter (src/bpf): libbpf, and bpftool for vmlinux.h and the skeleton
  libbpf-dev bpftool
  # libraries
  libmnl-dev libnftables-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libtomlplusplus-dev
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libcurl4-openssl-dev libqrencode-dev
  # HTTP server (header-only Asio + Beast)
  libboost1.74-dev
  # data plane and the test lab
  wireguard-tools wireguard-go nftables iproute2 iputils-ping socat procps kmod jq
  # the browser test (tests/browser: playwright-core drives Debian's chromium)
  chromium
  # the test IdP's smoke test (tests/idp) and scripts/idp.sh
  curl openssl
  # bench/run_login.sh fills the store with sqlite3; tests/api writes sessions with it
  sqlite3
  # the filter e2e test's UDP responder (tests/e2e/filter.sh)
  python3
  # the metrics e2e test: promtool checks the scrape (tests/e2e/metrics.sh)
  prometheus
)

# Node.js and npm for the test IdP (tests/idp: oidc-provider 9), from Debian
# only when the machine has none: a newer Node.js already installed (e.g.
# NodeSource's nodejs package, which bundles npm and conflicts with Debian's
# npm) is kept. Debian 12's nodejs (18.x) is too old for oidc-provider 9; see
# the README ("Node.js").
NODE_MIN=20.18
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

# shellcheck source=apt-lib.sh
source "$(dirname "$0")/apt-lib.sh"  # apt_get: waits for a busy apt

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# npm packages, exactly as each package-lock.json records them: `npm ci`
# only when node_modules is missing or was installed from another lock file
# or Node.js ABI. ui/ (the self-service page's QR library, embedded in the
# binary) is needed to build; tests/idp and tests/browser to test.
node_new_enough() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
           const [ma, mb] = process.argv[1].split(".").map(Number);
           process.exit(a > ma || (a === ma && b >= mb) ? 0 : 1)' "$NODE_MIN"
}
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
npm_ci() {  # npm_ci <dir>
  local dir="$1" stamp want log
  [ -f "$dir/package-lock.json" ] || return 0
  stamp="$dir/node_modules/.wgate-install-stamp"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) abi-$(node -p process.versions.modules)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "install-deps: ${dir#"$root_dir"/} npm packages present"
    return 0
  fi
  echo "install-deps: npm ci in ${dir#"$root_dir"/}"
  log=$(mktemp)
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "install-deps: npm ci in ${dir#"$root_dir"/} failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-deps: node or npm is missing: the UI's QR library cannot be installed" >&2
  exit 1
fi
npm_ci "$root_dir/ui"
# The admin API test (tests/api: ajv, yaml) runs on Debian 12's Node 18 too.
npm_ci "$root_dir/tests/api"
if ! node_new_enough; then
  echo "install-deps: WARNING: Node.js $(node -p process.versions.node) is too old for the test IdP" \
       "(oidc-provider 9 needs >= $NODE_MIN; Debian 12 ships 18.x): its tests are skipped; see README.md, \"Node.js\"" >&2
else
  npm_ci "$root_dir/tests/idp"
  npm_ci "$root_dir/tests/browser"
fi
