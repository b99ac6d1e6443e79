#!/usr/bin/env bash
# Installs a client package the way a user would and runs its example against
# a real rtrec_server on loopback (ctest: clients.PythonExample,
# clients.NodeExample).
#
#   run_client_example.sh python|node SERVER_BINARY
#
# python: a virtual environment over Debian's python3-grpcio/python3-protobuf,
#         `pip install` of (a copy of) clients/python (offline: no build
#         isolation, no index), the example run from outside the source tree.
# node:   `npm ci`, `npm run build` and `npm test` (its unit tests) in
#         clients/node (dependencies from the npm registry), `npm pack`, the
#         tarball installed into a fresh project, the example run there.
set -euo pipefail
KIND="$1"
SERVER="$2"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/rtrec.yaml" <<YAML
server:
  listen_address: "127.0.0.1:0"
  metrics_address: ""
catalog:
  path: "$ROOT/data/demo_catalog.jsonl"
text_tower:
  checkpoint_dir: "$ROOT/tests/data/tiny_bert"
  max_seq_length: 32
YAML

# The package is prepared before the server starts (npm may take a while).
case "$KIND" in
  python)
    /usr/bin/python3 -m venv --system-site-packages "$WORK/venv"
    # From a copy: pip builds in the tree it is given.
    cp -r "$ROOT/clients/python" "$WORK/package"
    "$WORK/venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps --no-index "$WORK/package"
    RUN=("$WORK/venv/bin/python" "$ROOT/clients/python/examples/record_impression.py")
    ;;
  node)
    (cd "$ROOT/clients/node" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build &&
       npm test && npm pack --silent --pack-destination "$WORK" > /dev/null)
    mkdir -p "$WORK/app"
    (cd "$WORK/app" && npm init -y > /dev/null && npm install --no-audit --no-fund --loglevel=error "$WORK"/rtrec-client-*.tgz)
    cp "$ROOT/clients/node/examples/record_impression.js" "$WORK/app/"
    RUN=(node "$WORK/app/record_impression.js")
    ;;
  *) echo "usage: $0 python|node SERVER_BINARY" >&2; exit 2 ;;
esac

"$SERVER" --config "$WORK/rtrec.yaml" > "$WORK/server.log" 2>&1 &
PID=$!
PORT=""
for _ in $(seq 1 1200); do
  if grep -q "SERVING model" "$WORK/server.log"; then
    PORT="$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WORK/server.log" | head -1)"
    break
  fi
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then echo "rtrec_server did not start:"; cat "$WORK/server.log"; exit 1; fi

cd "$WORK"
"${RUN[@]}" --target "127.0.0.1:$PORT"
