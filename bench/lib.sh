# Sourced by the benchmark scripts: what each needs around its measurements. A script adds the
# processes it starts to `pids` and the scratch databases it makes to `dbs`; on exit, however it
# ends, those processes are stopped and those databases dropped.
base=postgres://postgres@127.0.0.1:5432
pids=() dbs=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${dbs[@]}"; do
    psql -qX "$base/postgres" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# forget PID: a process this script started has ended and been waited for; cleanup leaves it.
forget() {
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}
# stop PID: stops a process this script started, waits for it and forgets it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# A TCP port free on loopback now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for URL [SECONDS]: until URL answers 2xx (20 s by default), or the script fails.
wait_for() {
  local tries=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$tries"); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$(basename "$0"): $1 did not come up" >&2
  exit 1
}
