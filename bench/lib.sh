# Shared shell helpers for the benchmarks (sourced, not run).
#
# Placement on a 2-core machine: the process under test gets core $BENCH_CORE_UNDER_TEST
# (1); the load generator and the upstream stub share core $BENCH_CORE_LOAD (0). The stub
# answers >60k req/s alone on one core, wrk needs little CPU per request, so neither is the
# bottleneck for a Python proxy doing a few thousand req/s (the cpu0/cpu1 busy figures in
# each result line let a reader check this).

BENCH_CORE_UNDER_TEST=${BENCH_CORE_UNDER_TEST:-1}
BENCH_CORE_LOAD=${BENCH_CORE_LOAD:-0}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

BENCH_PIDS=()

# Install wrk from Debian when it is missing (needs root, as in the dev container).
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    echo "wrk not found; installing it with apt-get" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq wrk >&2
    command -v wrk >/dev/null 2>&1 || { echo "could not install wrk" >&2; return 1; }
}

# Start a background process pinned to a core; remember its pid for cleanup.
# Usage: start_pinned CORE LOGFILE command args...
start_pinned() {
    local core=$1 log=$2
    shift 2
    taskset -c "$core" "$@" >"$log" 2>&1 &
    BENCH_PIDS+=("$!")
    LAST_PID=$!
}

# Stop one process started by start_pinned (by pid), waiting at most 10 s.
stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    return 0
}

stop_all() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid"; done
    BENCH_PIDS=()
}

# A TCP port on 127.0.0.1 that is free right now. Fixed ports collide with other people's
# benchmarks and tests on a shared machine.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until 127.0.0.1:PORT accepts connections (at most LIMIT seconds) while PID, the
# process meant to listen there, is alive: if it died (port taken), fail.
# Usage: wait_port PORT [LIMIT] [PID]
wait_port() {
    local port=$1 limit=${2:-30} pid=${3:-}
    local deadline=$((SECONDS + limit))
    while [ $SECONDS -lt $deadline ]; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            echo "the process meant to listen on 127.0.0.1:$port exited" >&2
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$port after ${limit}s" >&2
    return 1
}

# Busy and total jiffies of one core, from /proc/stat.
cpu_ticks() {
    awk -v c="cpu$1" '$1 == c { busy = $2 + $3 + $4 + $7 + $8; total = busy + $5 + $6; print busy, total }' /proc/stat
}

# On a shared machine, wait (at most BENCH_QUIET_WAIT seconds, default 60) until neither
# core is more than BENCH_QUIET_PCT (25) % busy over one second, so that a measurement does
# not start in the middle of someone else's test run. Prints how long it waited.
wait_quiet() {
    local limit=${BENCH_QUIET_WAIT:-60} pct=${BENCH_QUIET_PCT:-25} start=$SECONDS a0 a1 b0 b1
    while :; do
        read -r -a a0 <<<"$(cpu_ticks 0)"
        read -r -a a1 <<<"$(cpu_ticks 1)"
        sleep 1
        read -r -a b0 <<<"$(cpu_ticks 0)"
        read -r -a b1 <<<"$(cpu_ticks 1)"
        if [ $((100 * (b0[0] - a0[0]) / (b0[1] - a0[1] + 1))) -le "$pct" ] &&
            [ $((100 * (b1[0] - a1[0]) / (b1[1] - a1[1] + 1))) -le "$pct" ]; then
            break
        fi
        [ $((SECONDS - start)) -lt "$limit" ] || break
    done
    echo $((SECONDS - start))
}

# CPU time (clock ticks, user + system) used so far by a process and all its descendants.
# Requests per CPU-second of the process under test is the figure that other load on the
# shared machine disturbs least (req/s drops when a neighbour takes the core; this not much).
tree_cpu_ticks() {
    local pids=("$1") i=0 child total=0 fields
    while [ $i -lt ${#pids[@]} ]; do
        for child in $(pgrep -P "${pids[$i]}" 2>/dev/null); do pids+=("$child"); done
        i=$((i + 1))
    done
    for i in "${pids[@]}"; do
        # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
        fields=$(sed 's/.*) //' "/proc/$i/stat" 2>/dev/null) || continue
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$fields")))
    done
    echo "$total"
}

# Resident set size (KiB) of a process and all its descendants, summed from /proc (pages
# shared between them count once per process, so a multi-process server is overstated).
tree_rss_kib() {
    local pids=("$1") i=0 child total=0 kib
    while [ $i -lt ${#pids[@]} ]; do
        for child in $(pgrep -P "${pids[$i]}" 2>/dev/null); do pids+=("$child"); done
        i=$((i + 1))
    done
    for i in "${pids[@]}"; do
        kib=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$i/status" 2>/dev/null) || continue
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# Run wrk against http://127.0.0.1:PORT and print one JSON line: wrk's figures, the label
# fields given as extra JSON (second argument, e.g. '"target":"direct"'), and how busy each
# core was during the run. It first waits for a quiet machine (wait_quiet; BENCH_WAIT_QUIET=0
# skips that, as warm-ups do). Environment BENCH_TOKEN / BENCH_STREAM / BENCH_PATH go to the
# Lua script.
# With PID, the line also has the CPU seconds that process tree used, requests per
# CPU-second, and the tree's resident set size right after the run (server_rss_kib).
# Usage: run_wrk PORT EXTRA_JSON [DURATION] [PID]
run_wrk() {
    local port=$1 extra=$2 duration=${3:-$BENCH_DURATION} pid=${4:-}
    local c0a c0b c1a c1b out pa=0 pb=0 waited=0
    [ "${BENCH_WAIT_QUIET:-1}" = 0 ] || waited=$(wait_quiet)
    [ -z "$pid" ] || pa=$(tree_cpu_ticks "$pid")
    read -r -a c0a <<<"$(cpu_ticks 0)"
    read -r -a c1a <<<"$(cpu_ticks 1)"
    out=$(timeout $((duration + 30)) taskset -c "$BENCH_CORE_LOAD" wrk -t1 \
        -c"$BENCH_CONNECTIONS" -d"${duration}s" --timeout 10s \
        -s "$BENCH_DIR/wrk/openai.lua" "http://127.0.0.1:$port" | grep '^BENCH_JSON ' | cut -c12-)
    read -r -a c0b <<<"$(cpu_ticks 0)"
    read -r -a c1b <<<"$(cpu_ticks 1)"
    [ -z "$pid" ] || pb=$(tree_cpu_ticks "$pid")
    [ -n "$out" ] || { echo "wrk produced no result for port $port" >&2; return 1; }
    local busy0 busy1
    busy0=$(( 100 * (c0b[0] - c0a[0]) / (c0b[1] - c0a[1] + 1) ))
    busy1=$(( 100 * (c1b[0] - c1a[0]) / (c1b[1] - c1a[1] + 1) ))
    local proc=""
    if [ -n "$pid" ]; then
        local hz requests cpu_s
        hz=$(getconf CLK_TCK)
        requests=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$out")
        cpu_s=$(awk -v t=$((pb - pa)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
        proc=$(awk -v r="$requests" -v c="$cpu_s" \
            'BEGIN { printf "\"server_cpu_s\":%s,\"req_per_cpu_s\":%.1f,", c, (c > 0 ? r / c : 0) }')
        proc="$proc\"server_rss_kib\":$(tree_rss_kib "$pid"),"
    fi
    echo "{${extra},\"quiet_wait_s\":$waited,\"connections\":$BENCH_CONNECTIONS,\"cpu0_busy_pct\":$busy0,\"cpu1_busy_pct\":$busy1,${proc}${out#\{}"
}
