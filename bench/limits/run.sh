#!/usr/bin/env bash
# The cost of limits on the hot path: requests/s through the gateway with limits off,
# in-process (memory backend) and shared (Redis backend), JSON chat completions.
#
# Reuses bench/lib.sh (placement: the gateways on core 1, wrk + stub on core 0) and the
# upstream stub. One throwaway data dir, two member keys:
#   off     no limits (the limiter is skipped)
#   limits  rpm + tpm + concurrency + a daily budget, all far above what the run sends,
#           so every check and every settlement runs but nothing is refused
# Two gateways run side by side on core 1 over the same data dir: one without
# VAULTGATE_REDIS_URL (memory), one with it (Redis, a random key prefix, deleted afterwards;
# Redis itself is not pinned and shares the cores). Only one is measured at a time, and the
# variants are interleaved (off, memory, redis in each repetition) so that the machine's
# drift spreads evenly. Each line also has the CPU seconds redis-server used during the run.
# The summary gives req/s and requests per gateway CPU-second, and Redis against memory as a
# percentage of both (issue 15: Redis limits at >= 60 % of the in-process figure).
#
# Environment: VENV (.venv), REPS (3), BENCH_DURATION (10 s), BENCH_CONNECTIONS (64),
# REDIS_URL (redis://127.0.0.1:6379/0), BENCH_QUIET_WAIT (60 s), ports: free ones.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=../lib.sh
source "$BENCH/lib.sh"

VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
VAULTGATE=$VENV/bin/vaultgate
REPS=${REPS:-3}
BENCH_DURATION=${BENCH_DURATION:-10}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
STUB_PORT=$(free_port)
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
trap 'exit 130' INT TERM

fail() {
    echo "bench/limits: $*" >&2
    for log in "$LOGS"/*.log; do [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }; done
    exit 1
}

ensure_wrk
REDIS_PID=$(pgrep -x redis-server | head -n 1) || fail "no redis-server process on this machine"
export STUB_KEY="sk-stub-$RANDOM$RANDOM"
start_pinned "$BENCH_CORE_LOAD" "$LOGS/stub.log" "$PY" "$BENCH/upstream_stub.py" --port "$STUB_PORT" --api-key "$STUB_KEY"
wait_port "$STUB_PORT" 30 "$LAST_PID" || fail "the upstream stub did not start"

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

declare -A PORT PID
for backend in memory redis; do
    PORT[$backend]=$(free_port)
    if [ "$backend" = redis ]; then
        VAULTGATE_REDIS_URL=$REDIS_URL VAULTGATE_LIMITS_PREFIX=$PREFIX start_pinned "$BENCH_CORE_UNDER_TEST" \
            "$LOGS/gateway-$backend.log" "$VAULTGATE" serve --port "${PORT[$backend]}"
    else
        start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/gateway-$backend.log" "$VAULTGATE" serve --port "${PORT[$backend]}"
    fi
    PID[$backend]=$LAST_PID
    wait_port "${PORT[$backend]}" 60 "${PID[$backend]}" || fail "the gateway ($backend) did not start"
done
for backend in memory redis; do
    status=$(curl -s -o "$LOGS/smoke.out" -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $KEY_LIMITS" \
        -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
        "http://127.0.0.1:${PORT[$backend]}/v1/chat/completions") || status=000
    [ "$status" = 200 ] || fail "smoke request through the $backend gateway: HTTP $status: $(head -c 300 "$LOGS/smoke.out")"
done
grep -q "redis" "$LOGS/gateway-redis.log" || echo "bench/limits: the redis gateway's log does not mention Redis" >&2

echo "# $STAMP $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; commit $(git -C "$ROOT" rev-parse --short HEAD);" \
    "$(redis-server --version | cut -d' ' -f1-3); $REPS reps of ${BENCH_DURATION}s, $BENCH_CONNECTIONS connections" | tee "$OUT"

redis_ticks() { awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat"; }

for rep in $(seq "$REPS"); do
    for label in off memory redis; do
        backend=$label key=$KEY_LIMITS
        [ "$label" = off ] && { backend=memory; key=$KEY_OFF; }
        BENCH_WAIT_QUIET=0 BENCH_TOKEN=$key run_wrk "${PORT[$backend]}" '"variant":"warmup"' 2 >/dev/null
        before=$(redis_ticks)
        line=$(BENCH_TOKEN=$key run_wrk "${PORT[$backend]}" "\"limits\":\"$label\",\"rep\":$rep" "$BENCH_DURATION" \
            "${PID[$backend]}")
        redis_s=$(awk -v t=$(($(redis_ticks) - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
        echo "${line%\}},\"redis_cpu_s\":$redis_s}" | tee -a "$OUT"
    done
done

"$PY" - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{'limits':<8} {'req/s':>8} {'req/CPU-s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'redis CPU ms/req':>17}"
      f"  (medians of {max(r['rep'] for r in rows)} runs)")
med = {}
for label in ("off", "memory", "redis"):
    mine = [r for r in rows if r["limits"] == label]
    med[label] = (statistics.median(r["rps"] for r in mine), statistics.median(r["req_per_cpu_s"] for r in mine))
    p50 = statistics.median(r["p50_us"] for r in mine) / 1000
    p99 = statistics.median(r["p99_us"] for r in mine) / 1000
    bad = sum(r["non2xx"] + r["timeouts"] + r["read_errors"] for r in mine)
    redis_ms = statistics.median(1000 * r["redis_cpu_s"] / r["requests"] for r in mine if r["requests"])
    print(f"{label:<8} {med[label][0]:>8.0f} {med[label][1]:>10.0f} {p50:>8.2f} {p99:>8.2f} {bad:>8} {redis_ms:>17.3f}")
rps, per_cpu = (100 * med["redis"][i] / med["memory"][i] for i in (0, 1))
print(f"\nredis / memory: {rps:.0f} % of the req/s, {per_cpu:.0f} % of the requests per gateway CPU-second"
      f" (issue 15's target: >= 60 %)")
PY
echo "raw results: $OUT" >&2
