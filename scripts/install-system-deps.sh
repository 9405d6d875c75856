#!/usr/bin/env bash
# System packages the test suite needs (Debian). One line per tool: "command package".
# Installs only what is missing; safe to run again.
set -euo pipefail
NEEDED=(
  "prometheus prometheus"
  "promtool prometheus"
  "initdb postgresql"
  "pg_ctl postgresql"
  "prometheus-alertmanager prometheus-alertmanager" # Debian names the binary so
  "amtool prometheus-alertmanager"
  "docker-compose docker-compose"
  "chromium chromium"
  "chromedriver chromium-driver"
  "kubectl kubectl" # `kubectl kustomize` renders deploy/kubernetes (tests/test_kubernetes.py)
)
# Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<version>/bin.
have() { command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
missing=()
for entry in "${NEEDED[@]}"; do
  read -r cmd pkg <<<"$entry"
  have "$cmd" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2046
  $SUDO apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  # Debian packages start system services (Prometheus on :9090...); the tests start their own.
  for svc in prometheus prometheus-alertmanager postgresql; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  done
fi
echo "system deps: $(prometheus --version 2>&1 | head -n1)"
