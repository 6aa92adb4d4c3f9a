#!/usr/bin/env bash
# Measure the data-plane candidates: ASGI server x upstream client x JSON library.
#
# Each variant of bench/candidates/proxy.py runs alone on core 1; wrk and the upstream stub
# share core 0. Every variant is measured REPS times (JSON chat completions, and SSE
# streaming), in an interleaved order so that slow drift on the shared machine spreads
# over all variants. Raw lines go to bench/results/candidates-<stamp>.jsonl and the
# summary table (medians) to stdout.
#
# Usage: bash bench/candidates/run_candidates.sh [VENV]   (default /tmp/venv-bench, which
# needs: uvicorn[standard] granian aiohttp httpx orjson)
# Environment: REPS (3), BENCH_DURATION (10 s), BENCH_CONNECTIONS (64), MODES ("json sse").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

VENV=${1:-/tmp/venv-bench}
PY=$VENV/bin/python
REPS=${REPS:-3}
MODES=${MODES:-json sse}
STUB_PORT=${STUB_PORT:-$(free_port)}
PROXY_PORT=${PROXY_PORT:-$(free_port)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH_DIR/results/candidates-$STAMP.jsonl
LOGS=$(mktemp -d /tmp/vaultgate-candidates.XXXXXX)
mkdir -p "$BENCH_DIR/results"
trap stop_all EXIT

ensure_wrk

# server:client:json, plus granian tuned for one core (single-threaded runtime, Rust tasks).
VARIANTS=${VARIANTS:-"
uvicorn:aiohttp:orjson uvicorn:aiohttp:json uvicorn:httpx:orjson uvicorn:httpx:json
granian:aiohttp:orjson granian:aiohttp:json granian:httpx:orjson granian:httpx:json
granian-st:aiohttp:orjson
"}

start_proxy() {  # server client json
    local server=$1 client=$2 json=$3
    local env=(env "CANDIDATE_CLIENT=$client" "CANDIDATE_JSON=$json"
        "CANDIDATE_UPSTREAM=http://127.0.0.1:$STUB_PORT")
    case $server in
    uvicorn)
        start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/proxy.log" "${env[@]}" \
            "$VENV/bin/uvicorn" proxy:app --app-dir "$HERE" --host 127.0.0.1 \
            --port "$PROXY_PORT" --loop uvloop --http httptools --no-access-log \
            --log-level warning --backlog 4096 ;;
    granian)
        start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/proxy.log" "${env[@]}" \
            "$VENV/bin/granian" --interface asgi --loop uvloop --http 1 --workers 1 \
            --working-dir "$HERE" --host 127.0.0.1 --port "$PROXY_PORT" \
            --log-level warning proxy:app ;;
    granian-st)
        start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/proxy.log" "${env[@]}" \
            "$VENV/bin/granian" --interface asgi --loop uvloop --http 1 --workers 1 \
            --runtime-mode st --runtime-threads 1 --task-impl rust \
            --working-dir "$HERE" --host 127.0.0.1 --port "$PROXY_PORT" \
            --log-level warning proxy:app ;;
    *) echo "unknown server $server" >&2; return 1 ;;
    esac
    wait_port "$PROXY_PORT" 30 "$LAST_PID"
}

versions=$("$PY" - <<'PY'
import importlib.metadata as m, platform
names = ["uvicorn", "uvloop", "httptools", "granian", "aiohttp", "httpx", "httpcore", "orjson"]
print(" ".join([f"python={platform.python_version()}"] + [f"{n}={m.version(n)}" for n in names]))
PY
)
echo "# $STAMP $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $versions" | tee "$OUT"

# The stub alone, on the core the proxies get: it must be far faster than any proxy.
start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/stub.log" "$PY" "$BENCH_DIR/upstream_stub.py" \
    --port "$STUB_PORT"
wait_port "$STUB_PORT" 30 "$LAST_PID"
run_wrk "$STUB_PORT" '"variant":"stub-alone-core1","mode":"json","rep":0' 5 "$LAST_PID" |
    tee -a "$OUT"
stop_pid "$LAST_PID"

# From here on the stub shares core 0 with wrk, as in bench/run.sh.
start_pinned "$BENCH_CORE_LOAD" "$LOGS/stub.log" "$PY" "$BENCH_DIR/upstream_stub.py" \
    --port "$STUB_PORT"
stub_pid=$LAST_PID
wait_port "$STUB_PORT" 30 "$stub_pid"
for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        stream=0
        [ "$mode" = sse ] && stream=1
        BENCH_STREAM=$stream run_wrk "$STUB_PORT" \
            "\"variant\":\"direct\",\"mode\":\"$mode\",\"rep\":$rep" "$BENCH_DURATION" "$stub_pid" |
            tee -a "$OUT"
    done
    for variant in $VARIANTS; do
        IFS=: read -r server client json <<<"$variant"
        start_proxy "$server" "$client" "$json"
        proxy_pid=$LAST_PID
        for mode in $MODES; do
            stream=0
            [ "$mode" = sse ] && stream=1
            BENCH_WAIT_QUIET=0 BENCH_STREAM=$stream run_wrk "$PROXY_PORT" '"variant":"warmup"' "$BENCH_WARMUP" \
                >/dev/null
            BENCH_STREAM=$stream run_wrk "$PROXY_PORT" \
                "\"variant\":\"$variant\",\"mode\":\"$mode\",\"rep\":$rep" "$BENCH_DURATION" \
                "$proxy_pid" | tee -a "$OUT"
        done
        stop_pid "$proxy_pid"
    done
done

echo "raw results: $OUT" >&2
"$PY" "$BENCH_DIR/report.py" candidates "$OUT"
