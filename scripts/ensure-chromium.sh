#!/usr/bin/env bash
# Debian's Chromium for the docs-page browser test (tests/schema/test_docs_browser.py).
# Installs it only when /usr/bin/chromium is missing; needs root (CI runs as root) and
# Debian's package archive. Playwright drives this browser and downloads none of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing; run as root: apt-get install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
