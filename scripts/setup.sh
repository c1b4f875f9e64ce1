#!/usr/bin/env bash
# Installs every dependency from Debian packages (non-interactive,
# idempotent) and builds connleak into build/.
#   scripts/setup.sh            # as root, or with sudo available
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # the shim: stacks; the session APIs it interposes (headers only; the
  # session tests link them)
  libunwind-dev libcurl4-openssl-dev libssl-dev libpq-dev libmariadb-dev libhiredis-dev libgnutls28-dev libssh2-1-dev
  # the analyzer: symbolization, logging, CLI, JSON
  libdw-dev libelf-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  # tests: Catch2, Python, a certificate maker, a JUnit parser
  catch2 python3 openssl python3-junitparser
  # behaviour identity (tests/identity): real TLS clients, and allocators
  # preloaded beside the shim
  python3-requests libio-socket-ssl-perl curl wget libjemalloc2 libgoogle-perftools4 libtcmalloc-minimal4
  # benchmarks against the peers (scripts/bench), and the HTTP load generator
  # of its nginx workload
  valgrind strace wrk
  # real-program corpus (tests/corpus): git over HTTP (git http-backend),
  # wget (above), nginx, redis-server and redis-benchmark, PostgreSQL with pgbench;
  # the tests start their own instances on free loopback ports, never the
  # services these packages install
  git nginx redis-server redis-tools postgresql postgresql-contrib
  # session tests (tests/sessions): the servers of the session APIs, started
  # by the tests on free loopback ports: MariaDB, an sshd for libssh2
  # (PostgreSQL and Redis above)
  mariadb-server mariadb-client gnutls-bin openssh-server
  # the HTML report's browser test (tests/timeline) and screenshot tool
  # (scripts/html_report_browser.py): Debian's chromium, its chromedriver,
  # and Selenium to drive it
  chromium chromium-driver python3-selenium
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi

# The official SARIF validator comes from npm (tests/ci_formats/validate_sarif.sh
# installs it on first use); Debian's nodejs brings npm and npx.
if ! command -v npx >/dev/null 2>&1; then
  echo "setup: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends nodejs npm
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${CONNLEAK_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -- -j"$(nproc)"
echo "setup: built build/bin/connleak and build/lib/libconnleak.so"
