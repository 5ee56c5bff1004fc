#!/usr/bin/env bash
# Runs every fuzz target of tapegrad for a bounded time each.
#
#   scripts/fuzz.sh [seconds]     # default 5 s per target
#
# Go fuzzes one target of one package at a time, so the targets run one
# after another. New inputs that widen coverage go to Go's cache
# ($(go env GOCACHE)/fuzz), not into the repository; a failing input is
# written to PACKAGE/testdata/fuzz/TARGET/ (commit it with the fix: it
# becomes a regression test that go test runs). The seed corpora under
# testdata/fuzz run as ordinary tests with go test ./... .
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-5}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;;
esac

targets=(
	"./tensor FuzzArray"
	"./tensor FuzzBroadcast"
	"./tensor FuzzViews"
	"./npy FuzzRead"
)

failed=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	printf '=== %s %s (%ss)\n' "$pkg" "$name" "$secs"
	# Minimising a new interesting input may not take longer than the run.
	if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s" -fuzzminimizetime "${secs}s"; then
		failed=1
	fi
done
exit $failed
