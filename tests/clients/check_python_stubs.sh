#!/usr/bin/env bash
# The Python package's generated modules match proto/ (regenerated into a
# temporary folder and compared), and both client packages carry rtrec's
# version (CMakeLists.txt project VERSION, passed as $1).
set -euo pipefail
VERSION="$1"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
bash "$ROOT/clients/python/generate.sh" "$OUT/_proto"
diff -r "$ROOT/clients/python/rtrec_client/_proto" "$OUT/_proto" \
  || { echo "clients/python/rtrec_client/_proto is stale: run bash clients/python/generate.sh"; exit 1; }
check() {  # FILE PATTERN
  grep -q "$2" "$ROOT/$1" || { echo "$1 does not carry version $VERSION"; exit 1; }
}
check clients/python/pyproject.toml "^version = \"$VERSION\""
check clients/python/rtrec_client/__init__.py "^__version__ = \"$VERSION\""
check clients/node/package.json "\"version\": \"$VERSION\""
echo "python stubs current; client versions $VERSION"
