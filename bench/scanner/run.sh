#!/usr/bin/env bash
# Scanner benchmark: vaultgate vs detect-secrets vs trufflehog3 on one tree, one run.
#   bash bench/scanner/run.sh [TREE]      (default: the site-packages of the Python below)
# PYTHON: a Python with vaultgate installed (default .venv/bin/python).
# PEERS_VENV: where the peers are installed, apart from the project's deps and outside the
#   repository (default /tmp/vaultgate-scanner-peers). gitleaks is not included: no
#   registry package reachable here ships its binary (PyPI, npm, Debian).
# REPEAT / PEER_REPEAT: runs of vaultgate (default 5) and of each peer (default 1); medians.
# TIMEOUT: seconds per run (default 900).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-$root/.venv/bin/python}"
PEERS_VENV="${PEERS_VENV:-${TMPDIR:-/tmp}/vaultgate-scanner-peers}"
if [ ! -x "$PEERS_VENV/bin/trufflehog3" ] || [ ! -x "$PEERS_VENV/bin/detect-secrets" ]; then
  python3 -m venv "$PEERS_VENV"
  "$PEERS_VENV/bin/pip" install -q detect-secrets==1.5.0 trufflehog3==3.0.10
fi
tree="${1:-$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')}"
exec "$PYTHON" "$here/bench.py" "$tree" --python "$PYTHON" --peers "$PEERS_VENV" \
  --timeout "${TIMEOUT:-900}" --repeat "${REPEAT:-5}" --peer-repeat "${PEER_REPEAT:-1}"
