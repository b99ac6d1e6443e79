#!/usr/bin/env bash
# Every rtrec binary: --help lists its flags and exits 0, --version prints the
# version and git revision and exits 0, an unknown flag or a bad value exits 2
# naming it.
#
#   check_flags.sh VERSION BINARY...
set -uo pipefail
VERSION="$1"
shift
failed=0
fail() { echo "FAIL: $*"; failed=1; }
for bin in "$@"; do
  name="$(basename "$bin")"
  out="$("$bin" --help 2>&1)"; rc=$?
  [ "$rc" -eq 0 ] || fail "$name --help exited $rc"
  echo "$out" | grep -q "^Usage: $name" || fail "$name --help has no usage line: $(echo "$out" | head -2)"
  echo "$out" | grep -q -- "--log_level=<string>" || fail "$name --help does not list --log_level"
  [ "$(echo "$out" | grep -c -- '^  --')" -ge 4 ] || fail "$name --help lists fewer than 4 flags"
  out="$("$bin" -h 2>&1)"; rc=$?
  [ "$rc" -eq 0 ] || fail "$name -h exited $rc"
  out="$("$bin" --version 2>&1)"; rc=$?
  [ "$rc" -eq 0 ] || fail "$name --version exited $rc"
  echo "$out" | grep -Eq "^$name $VERSION \(git (unknown|[0-9a-f]{7,}(-dirty)?), [A-Za-z]+ build\)$" \
    || fail "$name --version printed '$out'"
  out="$("$bin" --no_such_flag 2>&1)"; rc=$?
  [ "$rc" -eq 2 ] || fail "$name --no_such_flag exited $rc (want 2)"
  echo "$out" | grep -q "unknown flag --no_such_flag" || fail "$name: '$out' does not name the flag"
  out="$("$bin" --log_level=loud 2>&1)"; rc=$?
  [ "$rc" -eq 2 ] || fail "$name --log_level=loud exited $rc (want 2)"
  echo "$out" | grep -q -- "--log_level" || fail "$name: '$out' does not name --log_level"
done
[ "$failed" -eq 0 ] && echo "flags ok: $*"
exit "$failed"
