#!/usr/bin/env bash
# Start/stop a throw-away ClickHouse server on loopback for native-protocol tests.
#
#   scripts/clickhouse-test-server.sh start  <dir> <tcp_port>   # waits until SELECT 1 answers
#   scripts/clickhouse-test-server.sh status <dir> <tcp_port>
#   scripts/clickhouse-test-server.sh stop   <dir> <tcp_port>
#
# The packaged config (/etc/clickhouse-server) is copied into <dir>, with data/log paths moved into
# <dir>, only 127.0.0.1 listening, no HTTP/interserver ports, and two extra users for tests:
# `etl` (password `etl-test-password`) and the packaged `readonly`. Needs `clickhouse-server`
# (apt-get install clickhouse-server; Debian ships 18.16). Env CLICKHOUSE_SERVER overrides the binary.
set -euo pipefail

cmd=${1:-}; dir=${2:-}; port=${3:-}
if [[ -z "$cmd" || -z "$dir" || -z "$port" ]]; then
  echo "usage: $0 start|stop|status <dir> <tcp_port>" >&2; exit 2
fi

find_server() {
  if [[ -n "${CLICKHOUSE_SERVER:-}" ]]; then echo "$CLICKHOUSE_SERVER"; return; fi
  for c in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  echo "clickhouse-server not found: apt-get install clickhouse-server" >&2; exit 3
}

pid_alive() { [[ -f "$dir/server.pid" ]] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; }

answers() {
  # Bash's /dev/tcp checks the port; clickhouse-client (when present) checks a real query.
  if command -v clickhouse-client >/dev/null 2>&1; then
    clickhouse-client --host 127.0.0.1 --port "$port" --query "SELECT 1" >/dev/null 2>&1
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

configure() {
  local src=/etc/clickhouse-server
  mkdir -p "$dir/data/tmp" "$dir/data/user_files" "$dir/data/format_schemas" "$dir/log"
  cp "$src/config.xml" "$src/users.xml" "$dir/"
  sed -i \
    -e "s#/var/lib/clickhouse/#$dir/data/#g" \
    -e "s#/var/log/clickhouse-server/#$dir/log/#g" \
    -e "s#<tcp_port>9000</tcp_port>#<tcp_port>$port</tcp_port>#" \
    -e "/<http_port>/d" -e "/<interserver_http_port>/d" \
    -e "s#<listen_host>::1</listen_host>##" \
    -e "s#<users_config>users.xml</users_config>#<users_config>$dir/users.xml</users_config>#" \
    "$dir/config.xml"
  sed -i -e "s#</users>#<etl><password>etl-test-password</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></etl></users>#" \
    "$dir/users.xml"
}

case "$cmd" in
  start)
    dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
    if pid_alive; then echo "already running (pid $(cat "$dir/server.pid"))"; exit 0; fi
    server=$(find_server)
    configure
    nohup "$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 150); do
      if answers; then echo "started pid $(cat "$dir/server.pid") on 127.0.0.1:$port"; exit 0; fi
      if ! pid_alive; then echo "server exited; see $dir/log" >&2; tail -n 20 "$dir/log/stdout.log" >&2 || true; exit 1; fi
      sleep 0.2
    done
    echo "server did not answer within 30 s; see $dir/log" >&2; exit 1
    ;;
  status)
    if pid_alive && answers; then echo "running (pid $(cat "$dir/server.pid")) on 127.0.0.1:$port"; exit 0; fi
    echo "not running"; exit 1
    ;;
  stop)
    if pid_alive; then
      pid=$(cat "$dir/server.pid"); kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "stopped pid $pid"
    else
      echo "not running"
    fi
    rm -f "$dir/server.pid"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
