# Sourced by .ci/run (and by developers who want the integration tests):
# starts the integration servers on loopback in $RELWATCH_SERVICES_DIR and
# exports where they are. Needs the Debian packages prometheus and
# postgresql.
set -euo pipefail

dir="${RELWATCH_SERVICES_DIR:-$(mktemp -d /tmp/relwatch-services.XXXXXX)}"
mkdir -p "$dir"
chmod 755 "$dir"

wait_for() { # URL-less readiness: wait_for NAME SECONDS COMMAND...
  local name=$1 secs=$2; shift 2
  for _ in $(seq "$secs"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$name did not come up within ${secs}s" >&2
  return 1
}

start_prometheus() {
  local port=${RELWATCH_PROMETHEUS_PORT:-19090}
  mkdir -p "$dir/prometheus/sd" "$dir/prometheus/data"
  echo '[]' > "$dir/prometheus/sd/empty.json"
  cat > "$dir/prometheus/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: relwatch-test
    scrape_interval: 1s
    file_sd_configs:
      - files: ['$dir/prometheus/sd/*.json']
        refresh_interval: 1s
YML
  prometheus --config.file="$dir/prometheus/prometheus.yml" \
    --storage.tsdb.path="$dir/prometheus/data" \
    --storage.tsdb.retention.time=100y \
    --web.listen-address="127.0.0.1:$port" >"$dir/prometheus/log" 2>&1 &
  echo $! > "$dir/prometheus/pid"
  wait_for prometheus 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET /-/ready HTTP/1.0\r\n\r\n' >&3 && grep -q '200 OK' <&3"
  export RELWATCH_PROMETHEUS_URL="http://127.0.0.1:$port"
  export RELWATCH_PROMETHEUS_SD_DIR="$dir/prometheus/sd"
  echo "prometheus on $RELWATCH_PROMETHEUS_URL"
}

start_postgres() {
  local port=${RELWATCH_POSTGRES_PORT:-15432} bin=/usr/lib/postgresql/15/bin
  mkdir -p "$dir/postgres"
  chown postgres:postgres "$dir/postgres"
  su postgres -s /bin/sh -c "$bin/initdb -D '$dir/postgres/data' -U postgres --auth=trust -E UTF8 >'$dir/postgres/initdb.log' 2>&1"
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir/postgres/data' -l '$dir/postgres/log' -w -t 60 \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir/postgres' -c max_connections=200 -c fsync=off\" start" >/dev/null
  su postgres -s /bin/sh -c "$bin/createdb -h 127.0.0.1 -p $port -U postgres relwatch"
  export RELWATCH_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/relwatch?sslmode=disable"
  echo "postgres on 127.0.0.1:$port"
}

stop_services() {
  for pidfile in "$dir"/*/pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$dir/postgres/data/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$dir/postgres/data' -m fast stop" >/dev/null 2>&1 || true
  fi
}
