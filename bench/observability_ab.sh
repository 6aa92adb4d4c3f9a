#!/usr/bin/env bash
# The data plane's CPU per request with the access log on and off, and with tracing off and on
# (docs/PERFORMANCE.md, "Cost of the access log and of tracing"). Runs bench/gateway_micro.py
# (the real app in-process, pinned to core 1; the stub and the OTLP sink on core 0) for each
# variant in turn, REPS rounds, alternated, and prints one JSON line per run.
#
#   bash bench/observability_ab.sh                      # this tree
#   BEFORE_SRC=/tmp/before/src bash bench/observability_ab.sh   # adds the code in BEFORE_SRC as "before"
#
# Knobs: REPS (3), REQUESTS (20000), VARIANTS (see below), PYTHON (.venv/bin/python).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
REPS=${REPS:-3}
REQUESTS=${REQUESTS:-20000}
VARIANTS=${VARIANTS:-"quiet access-text access-off access-json tracing tracing-10pct"}
[ -n "${BEFORE_SRC:-}" ] && VARIANTS="before $VARIANTS"
LOGS=$(mktemp -d /tmp/vaultgate-obs-ab.XXXXXX)
trap 'stop_all; rm -rf "$LOGS"' EXIT

SINK_PORT=$(free_port)
start_pinned "$BENCH_CORE_LOAD" "$LOGS/sink.log" "$PYTHON" "$HERE/otlp_sink.py" --port "$SINK_PORT"

run() {  # run VARIANT: one gateway_micro run, its JSON line tagged with the variant
    local variant=$1 src="$ROOT/src"
    local -a env=(VAULTGATE_LOG_LEVEL=warning VAULTGATE_TRACING=false)
    case $variant in
        before) src=$BEFORE_SRC ;;
        quiet) ;;  # access lines below the log level: what gateway_micro measured so far
        access-text) env=(VAULTGATE_LOG_LEVEL=info VAULTGATE_ACCESS_LOG=true VAULTGATE_LOG_FORMAT=text) ;;
        access-off) env=(VAULTGATE_LOG_LEVEL=info VAULTGATE_ACCESS_LOG=false) ;;
        access-json) env=(VAULTGATE_LOG_LEVEL=info VAULTGATE_ACCESS_LOG=true VAULTGATE_LOG_FORMAT=json) ;;
        # A queue that never drops a span, so every span is made and exported within the run.
        tracing) env+=(VAULTGATE_TRACING=true "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT"
            OTEL_BSP_MAX_QUEUE_SIZE=1000000) ;;
        tracing-10pct) env+=(VAULTGATE_TRACING=true "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT"
            OTEL_BSP_MAX_QUEUE_SIZE=1000000 OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.1) ;;
        *) echo "unknown variant $variant" >&2; return 1 ;;
    esac
    local line
    # stderr (the log lines) goes to a file, as a collector's pipe would take it
    line=$(env "${env[@]}" PYTHONPATH="$src" taskset -c "$BENCH_CORE_UNDER_TEST" "$PYTHON" \
        "$HERE/gateway_micro.py" --requests "$REQUESTS" --through-stop 2>"$LOGS/$variant.err" | tail -1)
    echo "{\"variant\": \"$variant\", \"lines_logged\": $(wc -l <"$LOGS/$variant.err"), ${line#\{}"
}

for _ in $(seq "$REPS"); do
    for variant in $VARIANTS; do
        run "$variant"
    done
done
