#!/usr/bin/env bash
# `make run`: custom tools run only under bubblewrap (unless ENGRAM_TOOL_SANDBOX says otherwise). Installs Debian's
# bubblewrap package when it is missing and we are root; otherwise says how. Never fails: without bubblewrap the
# server starts with custom tools disabled, and a tool call answers with an error saying why.
set -uo pipefail
case "${ENGRAM_TOOL_SANDBOX:-auto}" in auto | bwrap) ;; *) exit 0 ;; esac
bwrap=${ENGRAM_BWRAP:-bwrap}
command -v "$bwrap" >/dev/null 2>&1 && exit 0
disabled="Custom tools are disabled until bubblewrap is installed"
if [ "$bwrap" != bwrap ]; then
  echo "ENGRAM_BWRAP=$bwrap does not exist. $disabled (or ENGRAM_BWRAP names it)." >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's bubblewrap package (the custom-tool sandbox)…" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; then
    exit 0
  fi
  echo "Installing bubblewrap failed. $disabled: apt-get install -y bubblewrap" >&2
  exit 0
fi
echo "bubblewrap is not installed. $disabled: sudo apt-get update && sudo apt-get install -y bubblewrap" >&2
exit 0
