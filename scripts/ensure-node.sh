#!/usr/bin/env bash
# Node.js, the ECMA-262 engine the schema tests read the OpenAPI patterns with
# (tests/schema/test_bodies.py: a JavaScript client's reading of each `pattern`).
# Installs Debian's `nodejs` (bookworm: Node.js 18) only when no `node` is on the PATH;
# needs root (CI runs as root) and Debian's package archive.
set -euo pipefail
if command -v node >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-node: no node on the PATH; run as root: apt-get install nodejs" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nodejs >/dev/null
node --version
