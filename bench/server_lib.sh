# Shared by the bench scripts: start rtrec_server on a config and wait until it
# serves. Source it after setting BUILD_DIR and WORK (a temporary folder).

# start_server LABEL YAML → sets PID and PORT; the log is $WORK/LABEL.log.
# Waits up to START_TIMEOUT_S seconds (default 60) for it to serve.
start_server() {
  local label="$1" yaml="$2"
  printf '%s\n' "$yaml" > "$WORK/$label.yaml"
  "$BUILD_DIR/rtrec_server" --config "$WORK/$label.yaml" > "$WORK/$label.log" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 1 $(( ${START_TIMEOUT_S:-60} * 10 ))); do
    if grep -q "server: SERVING model" "$WORK/$label.log"; then
      port="$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WORK/$label.log")"
      break
    fi
    sleep 0.1
  done
  if [ -z "$port" ]; then cat "$WORK/$label.log"; kill "$pid"; exit 1; fi
  PID=$pid
  PORT=$port
}

# stop_server: SIGTERM and wait for $PID.
stop_server() {
  kill -TERM "$PID"
  wait "$PID" || true
  PID=""
}

# field LABEL NAME: a number from the JSON line in $WORK/LABEL.json.
field() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$WORK/$1.json"; }
