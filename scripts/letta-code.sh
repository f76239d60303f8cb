#!/usr/bin/env bash
# Installs letta-code (Letta's terminal agent), pinned, into tests/letta_code/node_modules for
# tests/api/test_letta_code.py. A plain `npm install @letta-ai/letta-code` fails (two of its dependencies do not
# resolve) and none of them is needed: letta.js is one bundle whose only eager import is `ws`. So: Node 22 and ws
# from tests/letta_code/package-lock.json, then the letta-code tarball unpacked next to them.
set -euo pipefail
VERSION=0.32.18
DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/letta_code"
npm ci --prefix "$DIR" --no-audit --no-fund --loglevel=error
TARGET="$DIR/node_modules/@letta-ai/letta-code"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack "@letta-ai/letta-code@$VERSION" --silent >/dev/null)
rm -rf "$TARGET"
mkdir -p "$TARGET"
tar -xzf "$WORK/letta-ai-letta-code-$VERSION.tgz" -C "$TARGET" --strip-components=1
[ -f "$TARGET/letta.js" ] || { echo "letta-code $VERSION: letta.js missing from the package" >&2; exit 1; }
touch "$DIR/node_modules/.installed"
