#!/usr/bin/env bash
# make bench: vaultgate and LiteLLM's proxy side by side, against calling the stub directly.
#
# One run: starts the OpenAI-shaped stub (bench/upstream_stub.py), sets up a throwaway
# vaultgate data dir in /tmp (provider "stub", member "bench", one member key with rate
# limits switched on), serves the real gateway on loopback, starts each peer in PEERS
# (LiteLLM's proxy from its own venv, bench/litellm.sh) in front of the same stub, and
# measures with wrk
#   (a) the stub directly, (b) the same requests through the gateway, (c) through each peer,
# REPS times each, interleaved (one run of each target in turn), in three modes:
#   json     JSON chat completions at BENCH_CONNECTIONS (64) connections (throughput)
#   sse      the same with "stream": true
#   json-c1  JSON at one connection: the latency a request pays without queueing
#   json-privacy  JSON with a 4 KB prompt carrying six personal values (two emails, a phone
#            number, an IBAN, a card, an IPv4 address: bench/privacy/bodies.py), sent with a key
#            whose privacy policy redacts them all and blocks secrets; the stub direct and
#            vaultgate only (LiteLLM has no built-in equivalent: its PII masking is a guardrail
#            calling a separately deployed Presidio). Before it is measured, one such request
#            must get a 200 and the body the stub received must hold the placeholders
#            ([EMAIL_1] ...) and none of the six values.
# It prints one table: req/s, p50/p99 latency, the latency each proxy adds (minus direct),
# CPU ms per request (the server's utime+stime over the run / requests), its RSS at start
# (before the first request) and after each run, and the vaultgate/peer ratios; the raw
# lines stay in bench/results/gateway-<stamp>.jsonl.
#
# Placement (2 cores): the server under test alone on core 1 (the gateway and each peer
# run there, but only one is measured at a time: the others sit idle); wrk and the stub
# share core 0.
#
# Environment: VENV (.venv), REPS (3), BENCH_DURATION (10 s), BENCH_CONNECTIONS (64),
# MODES ("json sse json-c1 json-privacy"), PEERS ("litellm"; empty: vaultgate alone), GATEWAY_PORT and
# STUB_PORT (default: free ports), LITELLM_VERSION / LITELLM_VENV (bench/litellm.sh),
# KEEP_DATA_DIR=1 keeps the /tmp data dir and logs, BENCH_KEY_ARGS (extra `vaultgate key
# create` options; default: rpm/tpm limits far above what the benchmark sends, so the
# limiter runs but never refuses).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=litellm.sh
source "$HERE/litellm.sh"

VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
VAULTGATE=$VENV/bin/vaultgate
REPS=${REPS:-3}
MODES=${MODES:-json sse json-c1 json-privacy}
PEERS=${PEERS-litellm}
for peer in $PEERS; do
    [ "$peer" = litellm ] || { echo "bench: unknown peer '$peer' (known: litellm)" >&2; exit 2; }
done
GATEWAY_PORT=${GATEWAY_PORT:-$(free_port)}
STUB_PORT=${STUB_PORT:-$(free_port)}
BENCH_KEY_ARGS=${BENCH_KEY_ARGS:---rpm 100000000 --tpm 100000000000}
# The json-privacy key: every entity of the 4 KB prompt redacted (restored in the answer), secrets blocked.
PRIVACY_POLICY='{"pii": {"email": "redact", "phone": "redact", "card": "redact", "iban": "redact", "ip_address": "redact"}, "secrets": "block"}'
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$HERE/results/gateway-$STAMP.jsonl
DATA=$(mktemp -d /tmp/vaultgate-bench.XXXXXX)
LOGS=$DATA/logs
mkdir -p "$LOGS" "$HERE/results"

cleanup() {
    stop_all
    if [ "${KEEP_DATA_DIR:-0}" = 1 ]; then
        echo "data dir and logs kept in $DATA" >&2
    else
        rm -rf "$DATA"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that EXIT's cleanup runs on Ctrl-C or kill too

fail() {
    echo "bench: $*" >&2
    for log in "$LOGS"/*.log; do
        [ -s "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

ensure_wrk
[ -x "$PY" ] || fail "no Python in $VENV (run 'make dev' or set VENV)"
[ -x "$VAULTGATE" ] || fail "no vaultgate command in $VENV/bin (run 'make dev')"
for peer in $PEERS; do
    litellm_ensure || fail "could not install litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV"
done

# The stub demands its own key, so a 200 through the gateway also proves the member key
# was swapped for the (vault-held) provider key.
export STUB_KEY="sk-stub-$RANDOM$RANDOM"
# The privacy check reads the first body of 1 KiB or more the stub receives (the 4 KB prompt).
PROMPT4K=$DATA/prompt4k.json UPSTREAM_SAW=$DATA/upstream-first.json
start_pinned "$BENCH_CORE_LOAD" "$LOGS/stub.log" "$PY" "$HERE/upstream_stub.py" \
    --port "$STUB_PORT" --api-key "$STUB_KEY" --record-first "$UPSTREAM_SAW"
STUB_PID=$LAST_PID
wait_port "$STUB_PORT" 30 "$STUB_PID" || fail "the upstream stub did not start"

# A throwaway gateway set up exactly as a user would, through the CLI.
export VAULTGATE_DATA_DIR=$DATA/vaultgate
vg() { "$VAULTGATE" "$@" 2>>"$LOGS/cli.log"; }
vg init --data-dir "$VAULTGATE_DATA_DIR" >/dev/null || fail "vaultgate init failed"
vg provider add stub --kind compatible --base-url "http://127.0.0.1:$STUB_PORT/v1" \
    --allow-insecure-http --api-key-env STUB_KEY >/dev/null || fail "vaultgate provider add failed"
vg member add bench >/dev/null || fail "vaultgate member add failed"
# shellcheck disable=SC2086  # BENCH_KEY_ARGS is a list of options
KEY_JSON=$(vg key create --member bench $BENCH_KEY_ARGS --json) || fail "vaultgate key create failed"
MEMBER_KEY=$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["key"])' <<<"$KEY_JSON") ||
    fail "vaultgate key create --json printed no \"key\""
# shellcheck disable=SC2086
KEY_JSON=$(vg key create --member bench $BENCH_KEY_ARGS --privacy "$PRIVACY_POLICY" --json) ||
    fail "vaultgate key create --privacy failed"
PRIVACY_KEY=$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["key"])' <<<"$KEY_JSON") ||
    fail "vaultgate key create --json printed no \"key\""
unset KEY_JSON
"$PY" "$HERE/privacy/bodies.py" prompt4k "$PROMPT4K" --values "$DATA/prompt4k.values" ||
    fail "could not write the 4 KB privacy prompt"

start_pinned "$BENCH_CORE_UNDER_TEST" "$LOGS/gateway.log" "$VAULTGATE" serve \
    --host 127.0.0.1 --port "$GATEWAY_PORT"
GATEWAY_PID=$LAST_PID
wait_port "$GATEWAY_PORT" 60 "$GATEWAY_PID" || fail "the gateway did not start"
# Every proxy under test by name: its port, pid, bearer token and resident size at start.
declare -A PORT PID TOKEN RSS_START
TARGETS=(gateway)
PORT[gateway]=$GATEWAY_PORT PID[gateway]=$GATEWAY_PID TOKEN[gateway]=$MEMBER_KEY
RSS_START[gateway]=$(tree_rss_kib "$GATEWAY_PID")

for peer in $PEERS; do
    export LITELLM_MASTER_KEY="sk-litellm-$RANDOM$RANDOM"
    litellm_config "$DATA/litellm.yaml" "$STUB_PORT"
    PORT[$peer]=$(free_port)
    litellm_start "$BENCH_CORE_UNDER_TEST" "$LOGS/$peer.log" "$DATA/litellm.yaml" "${PORT[$peer]}"
    PID[$peer]=$LAST_PID TOKEN[$peer]=$LITELLM_MASTER_KEY
    wait_port "${PORT[$peer]}" 120 "${PID[$peer]}" || fail "$peer did not start"
    RSS_START[$peer]=$(tree_rss_kib "${PID[$peer]}")
    TARGETS+=("$peer")
done

# One request each way first: the benchmark only counts if every proxy really answers, and
# a stream counts only if it ends with [DONE].
for target in "${TARGETS[@]}"; do
    for stream in false true; do
        status=$(curl -s -o "$LOGS/smoke.out" -w '%{http_code}' --max-time 30 \
            -H "Authorization: Bearer ${TOKEN[$target]}" -H 'Content-Type: application/json' \
            -d "{\"model\":\"gpt-4o-mini\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
            "http://127.0.0.1:${PORT[$target]}/v1/chat/completions") || status=000
        [ "$status" = 200 ] ||
            fail "smoke request (stream=$stream) through $target: HTTP $status: $(head -c 300 "$LOGS/smoke.out")"
        [ "$stream" = false ] || grep -q '^data: \[DONE\]' "$LOGS/smoke.out" ||
            fail "smoke stream through $target did not end with [DONE]: $(tail -c 300 "$LOGS/smoke.out")"
    done
done

# The privacy mode counts only if its request is answered and the upstream saw placeholders, not values.
if [[ " $MODES " == *" json-privacy "* ]]; then
    status=$(curl -s -o "$LOGS/smoke.out" -w '%{http_code}' --max-time 30 \
        -H "Authorization: Bearer $PRIVACY_KEY" -H 'Content-Type: application/json' \
        --data-binary "@$PROMPT4K" "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions") || status=000
    [ "$status" = 200 ] || fail "privacy smoke request through the gateway: HTTP $status: $(head -c 300 "$LOGS/smoke.out")"
    for _ in $(seq 50); do [ -s "$UPSTREAM_SAW" ] && break; sleep 0.1; done
    "$PY" - "$UPSTREAM_SAW" "$DATA/prompt4k.values" <<'PY' || fail "the upstream saw the 4 KB prompt unredacted"
import re, sys
seen = open(sys.argv[1], encoding="utf-8").read()
values = [v for v in open(sys.argv[2], encoding="utf-8").read().splitlines() if v]
leaked = sum(v in seen for v in values)
tags = sorted(set(re.findall(r"\[(?:EMAIL|PHONE|IBAN|CARD|IP_ADDRESS)_\d+\]", seen)))
print(f"privacy check: the stub received {len(tags)} placeholders ({', '.join(tags)}) and {leaked} of the"
      f" {len(values)} values", file=sys.stderr)
sys.exit(1 if leaked or len(tags) < len(values) else 0)
PY
fi

versions=$("$PY" - <<'PY'
import importlib.metadata as m, platform
names = ["vaultgate", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson"]
found = []
for n in names:
    try:
        found.append(f"{n}={m.version(n)}")
    except m.PackageNotFoundError:
        pass
print(" ".join([f"python={platform.python_version()}", *found]))
PY
)
for peer in $PEERS; do versions="$versions $peer=$(litellm_version)"; done
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# $STAMP $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; commit $commit;" \
    "$versions; key options: $BENCH_KEY_ARGS; json-privacy key policy: $PRIVACY_POLICY; peers: ${PEERS:-none}" | tee "$OUT"
for target in "${TARGETS[@]}"; do
    echo "{\"kind\":\"start\",\"target\":\"$target\",\"rss_kib\":${RSS_START[$target]}}" | tee -a "$OUT"
done

for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        stream=0 conns=$BENCH_CONNECTIONS body="" targets=("${TARGETS[@]}")
        case $mode in
        sse) stream=1 ;;
        json-c1) conns=1 ;;
        json-privacy) body=$PROMPT4K targets=(gateway) ;;
        esac
        export BENCH_STREAM=$stream BENCH_BODY_FILE=$body
        BENCH_CONNECTIONS=$conns BENCH_TOKEN=$STUB_KEY run_wrk "$STUB_PORT" \
            "\"target\":\"direct\",\"mode\":\"$mode\",\"rep\":$rep" "$BENCH_DURATION" "$STUB_PID" |
            tee -a "$OUT"
        for target in "${targets[@]}"; do
            token=${TOKEN[$target]}
            [ "$mode" != json-privacy ] || token=$PRIVACY_KEY
            BENCH_CONNECTIONS=$conns BENCH_WAIT_QUIET=0 BENCH_TOKEN=$token run_wrk "${PORT[$target]}" \
                '"target":"warmup","variant":"warmup"' "$BENCH_WARMUP" >/dev/null
            BENCH_CONNECTIONS=$conns BENCH_TOKEN=$token run_wrk "${PORT[$target]}" \
                "\"target\":\"$target\",\"mode\":\"$mode\",\"rep\":$rep" "$BENCH_DURATION" \
                "${PID[$target]}" | tee -a "$OUT"
        done
    done
done

# Stop the gateway gracefully (usage is flushed on shutdown) before the data dir goes.
stop_pid "$GATEWAY_PID"
echo "raw results: $OUT" >&2
"$PY" "$HERE/report.py" side "$OUT"
