#!/usr/bin/env bash
# usage: expect_failure.sh SECONDS PATTERN -- COMMAND...
# Passes when COMMAND exits non-zero within SECONDS (not killed by the timeout: that is a hang)
# and its output matches the extended regex PATTERN.
set -u
limit=$1 pattern=$2
shift 3
out=$(timeout --kill-after=5 "$limit" "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "expect_failure: the job hung (killed after $limit s)" >&2
  exit 1
fi
if [ "$rc" -eq 0 ]; then
  echo "expect_failure: the job succeeded, a failure was expected" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then
  echo "expect_failure: exit $rc, but no line matches '$pattern'" >&2
  exit 1
fi
echo "expect_failure: failed as expected (exit $rc)"
