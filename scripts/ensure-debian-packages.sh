#!/usr/bin/env bash
# Debian packages the test suite runs outside Python, installed only when missing:
#   chromium:/usr/bin/chromium  the docs-page browser test (tests/schema/test_docs_browser.py;
#                               Playwright drives this browser and downloads none of its own)
#   nodejs:node                 the ECMA-262 engine that reads the OpenAPI patterns as a
#                               JavaScript client does (tests/schema/test_bodies.py)
# Each argument is PACKAGE:COMMAND (a name on the PATH or an absolute path). Installing
# needs root (CI runs as root) and Debian's package archive; one apt-get for all.
set -euo pipefail
missing=()
for pair in "$@"; do
  if ! command -v "${pair#*:}" >/dev/null; then
    missing+=("${pair%%:*}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-debian-packages: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
