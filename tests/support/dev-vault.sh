# Sourced by tests/fuzz/run and tests/client/run: builds the vault, starts `spvault dev` on a
# scratch database and a free port, and sets `base_url`, `tenant_key`, `operator_key`, `work`
# (a scratch folder) and `vault` (its pid). Stops it and drops the database on exit.
# Extra settings for the vault may be passed as NAME=value arguments to start_dev_vault.

start_dev_vault() {
  SQLX_OFFLINE=true cargo build --quiet --bin spvault
  local bin=${CARGO_TARGET_DIR:-$PWD/target}/debug/spvault
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dev_db=spvault_test_$$_$RANDOM
  work=$(mktemp -d)
  trap stop_dev_vault EXIT
  (cd "$work" && exec env DATABASE_URL="postgres://postgres@127.0.0.1:5432/$dev_db" \
    SPVAULT_LISTEN="127.0.0.1:$port" SPVAULT_LOG=warn "$@" \
    "$bin" dev >"$work/out" 2>"$work/err") &
  vault=$!
  for _ in $(seq 1 150); do
    grep -q "tenant key:" "$work/out" 2>/dev/null && break
    kill -0 "$vault" 2>/dev/null || { cat "$work/err"; echo "the vault did not start"; return 1; }
    sleep 0.2
  done
  tenant_key=$(sed -n 's/^ *tenant key: *\(spv_[^ ]*\).*/\1/p' "$work/out")
  operator_key=$(sed -n 's/^ *operator key: *\(spv_[^ ]*\).*/\1/p' "$work/out")
  [ -n "$tenant_key" ] && [ -n "$operator_key" ] || { cat "$work/out" "$work/err"; echo "no keys"; return 1; }
  base_url="http://127.0.0.1:$port"
}

stop_dev_vault() {
  [ -n "${vault:-}" ] && kill "$vault" 2>/dev/null && wait "$vault" 2>/dev/null || true
  psql -qX "postgres://postgres@127.0.0.1:5432/postgres" -c "drop database if exists $dev_db with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}

# The vault's own errors (a 500 is always logged); the HTTP library's notes on garbage it was
# sent (invalid headers and the like) are not failures.
dev_vault_errors() {
  grep '"level":"ERROR"' "$work/err" | grep '"target":"spvault' | head -20
}
