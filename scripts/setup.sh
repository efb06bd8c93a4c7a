#!/usr/bin/env bash
# Set up everything the project needs, idempotently:
#   scripts/setup.sh           Python venv (.venv) with the locked requirements and the provider (editable)
#   scripts/setup.sh --server  also Debian's clickhouse-server (native-protocol tests), chromium (browser
#                              tests, tests/ui), postgresql and redis-server (the real-stack test,
#                              tests/stack, make stack), when missing
# Re-running is cheap: the venv is rebuilt only when requirements, lock or pyproject change.
set -euo pipefail
cd "$(dirname "$0")/.."

want_server=0
for arg in "$@"; do
  case "$arg" in
    --server) want_server=1 ;;
    *) echo "usage: scripts/setup.sh [--server]" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
  echo "setup: Python 3.11+ is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

# Playwright (browser tests) drives Debian's chromium; it must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

stamp_input=$(cat requirements.txt requirements-stack.txt requirements-dev.txt requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.installed 2>/dev/null)" != "$stamp_input" ]; then
  echo "setup: installing Python packages into .venv (first time: a few minutes, ~1.3 GB with the embedded engine)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt -c requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$stamp_input" > .venv/.installed
else
  echo "setup: .venv is up to date"
fi

if [ "$want_server" = 1 ] && ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/bin/clickhouse-server ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's clickhouse-server (for the native-protocol tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  else
    echo "setup: clickhouse-server is missing; install it (sudo apt-get install clickhouse-server) to run the" \
         "native-protocol tests - they are skipped without it outside CI" >&2
  fi
fi

if [ "$want_server" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium (for the browser tests, tests/ui)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing; install it (sudo apt-get install chromium) to run the browser" \
         "tests - they are skipped without it outside CI" >&2
  fi
fi

if [ "$want_server" = 1 ] && { ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/bin/redis-server ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's postgresql and redis-server (for the real-stack test, tests/stack)"
    apt-get update -qq
    # The packages' own services are not used: the tests start throw-away servers on free loopback ports.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
  else
    echo "setup: postgresql or redis-server is missing; install them (sudo apt-get install postgresql" \
         "redis-server) to run the real-stack test - it is skipped without them outside CI" >&2
  fi
fi
