#!/usr/bin/env bash
# scripts/gloo.sh: install Gloo (Debian's libgloo-dev) if it is missing, then
# run the distributed package's tests with the gloo build tag: the
# collectives on 2 and 4 processes over loopback, the killed-rank test, the
# data-parallel equivalence tests, gradient accumulation (NoSync), buffer
# broadcasts and subgroups (NewGroup). Extra arguments go to go test (for
# example -run 'Collectives2' -v).
#
#   bash scripts/gloo.sh             # everything
#   bash scripts/gloo.sh -short      # without the 16M-element case on 4 ranks
#
# Installing needs root (or sudo without a password); the package and its
# dependencies are about 3 MB (libgloo0, libibverbs, libhiredis), plus g++
# where the machine has no C++ compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=""
dpkg -s libgloo-dev >/dev/null 2>&1 || pkgs="libgloo-dev"
command -v g++ >/dev/null 2>&1 || pkgs="$pkgs g++" # cgo compiles the C++ shim
if [ -n "$pkgs" ]; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $pkgs \
		|| { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $pkgs; }
fi
CGO_ENABLED=1 go test -tags gloo -count=1 "$@" ./distributed
