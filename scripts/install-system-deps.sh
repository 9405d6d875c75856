#!/usr/bin/env bash
# System packages the test suite needs (Debian): prometheus (server + promtool).
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The Debian package starts a system service on :9090; the tests start their own.
  $SUDO systemctl stop prometheus >/dev/null 2>&1 || true
fi
echo "system deps: $(prometheus --version 2>&1 | head -n1)"
