# LiteLLM's proxy as a peer in `make bench` (sourced by bench/run.sh, not run).
#
# LiteLLM lives in its own virtual environment (LITELLM_VENV, default bench/.venv-litellm,
# git-ignored), pinned to LITELLM_VERSION; it is installed on the first `make bench` and
# reused after that. `make test` never installs it.
#
# Pinned to 1.106.12: from 1.108 on, `litellm[proxy]` requires the separate `litellm-proxy`
# distribution, which the package index available here does not carry (1.107.x is absent:
# its release was compromised and withdrawn). The proxy server itself ships in the
# `litellm` wheel in every version.
#
# Configuration (what is on): the stub as an OpenAI-compatible upstream (`openai/<model>`
# with `api_base`), the key for it from the environment, a master key for auth, no
# database (so no virtual keys, budgets, spend logs or rate limits: those need PostgreSQL
# and Prisma), no callbacks, telemetry off, the model cost map read locally (no network),
# one worker (`--num_workers 1`) on the same core as vaultgate.

LITELLM_VERSION=${LITELLM_VERSION:-1.106.12}
LITELLM_VENV=${LITELLM_VENV:-$BENCH_DIR/.venv-litellm}

# Create the venv and install the pinned version unless it is already there.
litellm_ensure() {
    local have=""
    have=$("$LITELLM_VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null) || have=""
    [ "$have" = "$LITELLM_VERSION" ] && [ -x "$LITELLM_VENV/bin/litellm" ] && return 0
    echo "installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV (once)" >&2
    [ -x "$LITELLM_VENV/bin/python" ] || python3 -m venv "$LITELLM_VENV" || return 1
    "$LITELLM_VENV/bin/pip" install -q --upgrade pip >&2 || return 1
    "$LITELLM_VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" >&2 || return 1
}

# Write LiteLLM's config: every model the benchmark asks for routed to the stub.
# Usage: litellm_config FILE STUB_PORT
litellm_config() {
    local file=$1 stub_port=$2
    cat >"$file" <<YAML
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:$stub_port/v1
      api_key: os.environ/STUB_KEY
litellm_settings:
  telemetry: false
  set_verbose: false
  json_logs: false
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
YAML
}

# Start the proxy pinned to CORE on PORT with CONFIG; sets LAST_PID (see start_pinned).
# Usage: litellm_start CORE LOGFILE CONFIG PORT
litellm_start() {
    local core=$1 log=$2 config=$3 port=$4
    # Not inherited from the caller's shell: no database, no .env, no network look-ups.
    start_pinned "$core" "$log" env -u DATABASE_URL -u REDIS_HOST -u REDIS_URL \
        LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_MODE=PRODUCTION \
        LITELLM_DONT_SHOW_FEEDBACK_BOX=True NO_DOCS=True \
        "$LITELLM_VENV/bin/litellm" --config "$config" --host 127.0.0.1 --port "$port" \
        --num_workers 1 --telemetry False
}

litellm_version() {
    "$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null ||
        echo unknown
}
