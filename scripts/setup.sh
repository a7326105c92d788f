#!/usr/bin/env bash
# Installs every Debian package dmon needs to build and run its demo; skips what is already
# there. Safe to run again. Needs root (or sudo) only when something is missing.
#   scripts/setup.sh            to build and run the demo
#   scripts/setup.sh --tests    and what the tests need too (Chromium for the page's test)
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config git ca-certificates
  libboost-dev libyaml-dev libspdlog-dev libfmt-dev libgtest-dev
  librabbitmq-dev libsqlite3-dev sqlite3 rabbitmq-server
  clang-format procps
  libssl-dev openssl clang libclang-rt-14-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler libsnappy-dev libcurl4-openssl-dev
  libpq-dev
)
# The page of `dmonctl serve` is bundled with Node.js and npm at build time: Debian's, unless
# the machine has its own (a newer Node.js from elsewhere is kept, not replaced).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi
if [ "${1:-}" = "--tests" ]; then
  # The page in a real browser: Debian's Chromium, driven by puppeteer-core (npm), which
  # downloads no browser of its own. Fonts so that the screenshots show text.
  PACKAGES+=(chromium fonts-dejavu-core)
  # The Prometheus sinks are tested against Debian's Prometheus (and promtool), started by
  # the tests themselves on loopback.
  PACKAGES+=(prometheus)
  # postgres_store against Debian's PostgreSQL 15, started by scripts/postgres.sh (no systemd).
  PACKAGES+=(postgresql)
  # The Debian packages (scripts/package.sh) and their checks: debhelper, lintian,
  # systemd-analyze (in systemd) for the units, help2man for the man pages.
  PACKAGES+=(debhelper fakeroot lintian systemd help2man)
  # The Windows installer (scripts/package-windows.sh): wixl, Debian's WiX compiler (msitools).
  PACKAGES+=(wixl)
fi

missing=()
total=${#PACKAGES[@]}
i=0
for package in "${PACKAGES[@]}"; do
  i=$((i + 1))
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    printf '[setup] %2d/%d %-18s already installed\n' "$i" "$total" "$package"
  else
    printf '[setup] %2d/%d %-18s missing\n' "$i" "$total" "$package"
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[setup] everything is installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "[setup] error: ${missing[*]} missing and not running as root (no sudo to ask)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's postgresql would create and start a cluster of its own on port 5432 at install time;
# dmon's scripts run their own (scripts/postgres.sh), so none is created.
if printf '%s\n' "${missing[@]}" | grep -qx postgresql && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
echo "[setup] apt-get update"
$SUDO apt-get update -qq
echo "[setup] installing: ${missing[*]}"
# Debian's rabbitmq-server tries to start a service at install time; there is no init system
# here, and our scripts start the broker themselves, so a refused start is expected.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  -o Dpkg::Progress-Fancy=0 </dev/null | sed -u 's/^/[setup] /'
echo "[setup] done"
