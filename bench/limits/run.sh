#!/usr/bin/env bash
# The cost of limits on the hot path: requests/s through the gateway with limits off,
# in-process (memory backend) and shared (Redis backend), JSON chat completions.
#
# Reuses bench/lib.sh (placement: gateway alone on core 1, wrk + stub on core 0) and the
# upstream stub. One throwaway data dir, three member keys:
#   off     no limits (the limiter is skipped)
#   limits  rpm + tpm + concurrency + a daily budget, all far above what the run sends,
#           so every check and every settlement runs but nothing is refused
# The gateway is started twice: without VAULTGATE_REDIS_URL (memory) and with it (Redis,
# a random key prefix, deleted afterwards; Redis itself is not pinned and shares the cores).
#
# Environment: VENV (.venv), REPS (2), BENCH_DURATION (8 s), BENCH_CONNECTIONS (64),
# REDIS_URL (redis://127.0.0.1:6379/0), GATEWAY_PORT (8091), STUB_PORT (18081).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=../lib.sh
source "$BENCH/lib.sh"

VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
VAULTGATE=$VENV/bin/vaultgate
REPS=${REPS:-2}
BENCH_DURATION=${BENCH_DURATION:-8}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
GATEWAY_PORT=${GATEWAY_PORT:-8091}
STUB_PORT=${STUB_PORT:-18081}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
OUT=$HERE/results/limits-$STAMP.jsonl
DATA=$(mktemp -d /tmp/vaultgate-bench-limits.XXXXXX)
LOGS=$DATA/logs
mkdir -p "$LOGS"
PREFIX="vgbench:$RANDOM$RANDOM:"

cleanup() {
    stop_all
    "$PY" - "$REDIS_URL" "$PREFIX" <<'PY' 2>/dev/null || true
import sys, redis
client = redis.Redis.from_url(sys.argv[1])
keys = list(client.scan_iter(match=sys.argv[2] + "*", count=1000))
if keys:
    client.delete(*keys)
PY
    rm -rf "$DATA"
}
trap cleanup EXIT

fail() {
    echo "bench/limits: $*" >&2
    for log in "$LOGS"/*.log; do [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }; done
    exit 1
}

ensure_wrk
export STUB_KEY="sk-stub-$RANDOM$RANDOM"
start_pinned "$BENCH_CORE_LOAD" "$LOGS/stub.log" "$PY" "$BENCH/upstream_stub.py" --port "$STUB_PORT" --api-key "$STUB_KEY"
wait_port "$STUB_PORT" || fail "the upstream stub did not start"

export VAULTGATE_DATA_DIR=$DATA/vaultgate
vg() { "$VAULTGATE" "$@" 2>>"$LOGS/cli.log"; }
key_of() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)["key"])'; }
vg init >/dev/null || fail "init failed"
vg provider add stub --kind compatible --base-url "http://127.0.0.1:$STUB_PORT/v1" \
    --allow-insecure-http --api-key-env STUB_KEY >/dev/null || fail "provider add failed"
vg member add bench >/dev/null || fail "member add failed"
KEY_OFF=$(vg key create --member bench --json | key_of) || fail "key create failed"
KEY_LIMITS=$(vg key create --member bench --rpm 100000000 --tpm 100000000000 --concurrency 100000 \
    --budget 1000000 --budget-period day --json | key_of) || fail "key create (limits) failed"

echo "# $STAMP $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; commit $(git -C "$ROOT" rev-parse --short HEAD)" | tee "$OUT"

run_backend() {
    local backend=$1
    if [ "$backend" = redis ]; then
        export VAULTGATE_REDIS_URL=$REDIS_URL VAULTGATE_LIMITS_PREFIX=$PREFIX
    else
        unset VAULTGATE_REDIS_URL VAULTGATE_LIMITS_PREFIX
    fi
    start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/gateway-$backend.log" "$VAULTGATE" serve --port "$GATEWAY_PORT"
    local gw=$LAST_PID
    wait_port "$GATEWAY_PORT" 60 || fail "the gateway ($backend) did not start"
    local variants="limits"
    [ "$backend" = memory ] && variants="off limits"
    for rep in $(seq "$REPS"); do
        for variant in $variants; do
            local key=$KEY_LIMITS label=$backend
            [ "$variant" = off ] && { key=$KEY_OFF; label=off; }
            BENCH_WAIT_QUIET=0 BENCH_TOKEN=$key run_wrk "$GATEWAY_PORT" '"variant":"warmup"' 2 >/dev/null
            BENCH_TOKEN=$key run_wrk "$GATEWAY_PORT" "\"limits\":\"$label\",\"rep\":$rep" "$BENCH_DURATION" "$gw" |
                tee -a "$OUT"
        done
    done
    stop_pid "$gw"
}

run_backend memory
run_backend redis

"$PY" - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{'limits':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}  (median of {max(r['rep'] for r in rows)} runs)")
base = None
for label in ("off", "memory", "redis"):
    mine = [r for r in rows if r["limits"] == label]
    rps = statistics.median(r["rps"] for r in mine)
    base = base or rps
    p50 = statistics.median(r["p50_us"] for r in mine) / 1000
    p99 = statistics.median(r["p99_us"] for r in mine) / 1000
    bad = sum(r["non2xx"] for r in mine)
    print(f"{label:<8} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f} {bad:>8}  ({100 * (rps / base - 1):+.1f}% vs off)")
PY
echo "raw results: $OUT" >&2
