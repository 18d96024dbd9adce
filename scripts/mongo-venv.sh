#!/usr/bin/env bash
# Creates, once, the Python >= 3.13 virtualenv that runs the MongoDB wire server
# for tests (scripts/mongo_wire_server.py; mongoeco needs Python >= 3.13, the
# project itself stays on its own Python). Idempotent and safe to run
# concurrently; prints the venv's python on success.
#
#   MONGO_VENV    where the venv goes (default: .venv-mongo in the repo)
#   MONGO_PYTHON  the Python >= 3.13 to build it with (default: searched)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MONGO_VENV:-$ROOT/.venv-mongo}
# Pinned: docs/TEST-SERVICES.md records what this version can and cannot do.
SPEC='mongoeco[wire]==4.11.0'
STAMP=$VENV/.orderflow-installed

is_ready() {
    [[ -f $STAMP && $(cat "$STAMP") == "$SPEC" ]] \
        && "$VENV/bin/python" -c 'import mongoeco.wire' >/dev/null 2>&1
}

is_new_enough() {
    [[ -n $1 && -x $1 ]] && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1
}

find_python() {
    local candidates=()
    [[ -n ${MONGO_PYTHON:-} ]] && candidates+=("$MONGO_PYTHON")
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root=$(pyenv root)
        # The bare python3.13 pyenv shim fails unless 3.13 is the global version.
        candidates+=("$root"/versions/3.1[3-9]*/bin/python3)
    fi
    local name
    for name in python3.13 python3.14 python3; do
        command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
    done
    local candidate
    for candidate in "${candidates[@]}"; do
        if is_new_enough "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if is_ready; then
    echo "$VENV/bin/python"
    exit 0
fi

# One builder at a time: concurrent test runs wait here, then find it ready.
exec 9<"${BASH_SOURCE[0]}"
flock 9
if is_ready; then
    echo "$VENV/bin/python"
    exit 0
fi

if ! PYTHON=$(find_python); then
    echo "mongo-venv: no Python >= 3.13 found (tried \$MONGO_PYTHON, pyenv versions," \
         "python3.13, python3.14, python3); install one, e.g. 'pyenv install 3.13'" >&2
    exit 1
fi

echo "mongo-venv: building $VENV with $PYTHON ($SPEC)" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# Python >= 3.13 writes a .gitignore into the venv; older tools may not.
[[ -f $VENV/.gitignore ]] || echo '*' > "$VENV/.gitignore"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SPEC" >&2
"$VENV/bin/python" -c 'import mongoeco.wire'
echo "$SPEC" > "$STAMP"
echo "$VENV/bin/python"
