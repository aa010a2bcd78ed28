#!/usr/bin/env bash
# The offline ABI demo: plain pip builds abiext against the newest abicore and breaks;
# lockbuild compile + lockbuild sync build it against the locked abicore and it imports.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(cd "$here/../.." && pwd)/.venv/bin"
out="$here/out"
rm -rf "$out"
mkdir -p "$out"
export PIP_CONFIG_FILE=/dev/null PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT
export LOCKBUILD_CACHE_DIR="$out/cache"

index_url="$("$bin/python" "$here/make_index.py" "$out/index")"
cd "$here"

echo "== without lockbuild: pip install -r requirements.in"
python3 -m venv "$out/plain"
"$out/plain/bin/python" -m pip install -q --index-url "$index_url" -r requirements.in
if "$out/plain/bin/python" -c "import abiext" 2>"$out/plain-error.txt"; then
    echo "unexpected: abiext imported without the lock" >&2
    exit 1
fi
echo "   import abiext -> $(tail -n 1 "$out/plain-error.txt")"

echo
echo "== lockbuild compile requirements.in -o out/requirements.txt"
"$bin/lockbuild" compile requirements.in -o out/requirements.txt --index-url "$index_url"
echo
echo "-- out/requirements.txt"
cat out/requirements.txt
echo
echo "-- out/requirements-build.txt"
cat out/requirements-build.txt

echo
echo "== lockbuild sync out/requirements.txt into a fresh venv"
python3 -m venv "$out/venv"
"$bin/lockbuild" sync out/requirements.txt --python "$out/venv/bin/python" --index-url "$index_url"
echo
echo "== import abiext in the synced venv"
"$out/venv/bin/python" -c "import abiext; print('abiext imports; built against', abiext.BUILT_AGAINST)"
