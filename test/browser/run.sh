#!/usr/bin/env bash
# The fleet page in a real browser: headless Chromium from Debian's packages (apt-get installs
# `chromium` when /usr/bin/chromium is missing) driven by playwright-core, installed with npm into a
# directory of its own (no browser download: playwright-core has no install step). Not part of
# `make test`; run with `make browser`. Screenshots go to dist/browser/ (BROWSER_ARTIFACTS overrides).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

PLAYWRIGHT_CORE_VERSION=1.65.1
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "browser: installing chromium (Debian's package)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi

deps="${BROWSER_DEPS:-${TMPDIR:-/tmp}/workerctl-browser-deps-$PLAYWRIGHT_CORE_VERSION}"
if [ ! -f "$deps/node_modules/playwright-core/package.json" ]; then
  echo "browser: installing playwright-core $PLAYWRIGHT_CORE_VERSION into $deps"
  mkdir -p "$deps"
  npm install --prefix "$deps" --no-save --no-audit --no-fund --ignore-scripts "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null
fi

[ -f dist/test/browser/fleet-page.browser.js ] || npx tsc -p tsconfig.json
export BROWSER_DEPS="$deps" CHROMIUM BROWSER_ARTIFACTS="${BROWSER_ARTIFACTS:-$root/dist/browser}"
npx mocha --no-config --timeout 180000 --reporter spec 'dist/test/browser/**/*.browser.js'
