#!/usr/bin/env bash
# scripts/fashion-mnist.sh: make the Fashion-MNIST dataset available and print
# the directory that holds it.
#
# The data comes from Debian 12's package dataset-fashion-mnist (main; a 31 MB
# .deb holding the four gzip-compressed IDX files, 30 MB). The script looks
# for the four files, in order, in
#
#   $TAPEGRAD_FASHION_MNIST            if set
#   /usr/share/datasets/fashion-mnist  where the installed package puts them
#   the cache, <repo>/.cache/fashion-mnist (or $TAPEGRAD_FASHION_MNIST_CACHE)
#
# and prints the first directory that has them. If none has, it downloads the
# .deb with `apt-get download` (which checks it against the signed package
# index), extracts the four files into the cache, checks them against the
# package's md5sums and deletes the .deb. That needs no root and installs
# nothing: apt uses the system's package lists if they know the package, and
# otherwise its own configuration, sources list and lists in a temporary
# directory, as scripts/cuda-toolchain.sh does. /var/lib/apt is never touched.
#
# tapegrad's data.FashionMNIST("") finds the cache from anywhere inside the
# checkout, so nothing needs to be set after the first run.
#
# Usage: scripts/fashion-mnist.sh [command]
#   ensure   (default) fetch unless the files are somewhere above, print the
#            directory
#   env      like ensure, but print `export TAPEGRAD_FASHION_MNIST=DIR`:
#              eval "$(scripts/fashion-mnist.sh env)"
#   fetch    fill the cache even if the files are installed elsewhere, print it
#   system   install the package system-wide instead (root; apt-get install)
#   clean    delete the cache
#
# Environment:
#   TAPEGRAD_FASHION_MNIST              a directory that already has the files
#   TAPEGRAD_FASHION_MNIST_CACHE        cache directory (default:
#                                       <repo>/.cache/fashion-mnist)
#   TAPEGRAD_FASHION_MNIST_APT_SOURCES  one-line apt sources to use instead of
#                                       the ones derived from /etc/apt, e.g.
#                                       "deb http://deb.debian.org/debian bookworm main"
set -euo pipefail

readonly PACKAGE=dataset-fashion-mnist
readonly SUITE=bookworm # for the private sources; the system's lists may name others
readonly SYSTEM_DIR=/usr/share/datasets/fashion-mnist
readonly FILES=(
	train-images-idx3-ubyte.gz
	train-labels-idx1-ubyte.gz
	t10k-images-idx3-ubyte.gz
	t10k-labels-idx1-ubyte.gz
)

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CACHE=${TAPEGRAD_FASHION_MNIST_CACHE:-$REPO_ROOT/.cache/fashion-mnist}

log() { printf 'fashion-mnist: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=lib/private-apt.sh
source "$SCRIPT_DIR/lib/private-apt.sh"

has_files() { # has_files DIR: the four files are there and not empty
	local f
	for f in "${FILES[@]}"; do
		[[ -s $1/$f ]] || return 1
	done
}

# --- commands ----------------------------------------------------------------

require_host() {
	local tool
	for tool in apt-get dpkg-deb tar md5sum; do
		command -v "$tool" >/dev/null || die "$tool not found: this script needs a Debian-based system (apt and dpkg); or get the four files ${FILES[*]} from https://github.com/zalandoresearch/fashion-mnist and set TAPEGRAD_FASHION_MNIST to their directory"
	done
}

# Fill the cache: download, extract, check, then move the files into place,
# VERSION last (its presence means the cache is complete).
fetch() {
	local t0 work deb name version
	t0=$(now_ms)
	require_host
	mkdir -p -- "$CACHE"
	CACHE=$(cd -- "$CACHE" && pwd -P)
	if command -v flock >/dev/null; then
		exec 9>"$CACHE/.lock"
		flock 9
	fi
	if [[ -f $CACHE/VERSION ]] && has_files "$CACHE"; then
		return # another run filled it while we waited
	fi
	rm -rf -- "$CACHE"/.tmp.* # left by interrupted runs
	new_tmp work "$CACHE"
	download_deb "$work" "$PACKAGE" main "${TAPEGRAD_FASHION_MNIST_APT_SOURCES:-}" "$SUITE"
	deb=$(printf '%s\n' "$work"/"$PACKAGE"_*.deb)
	[[ -f $deb ]] || die "apt-get download left no .deb in $work"
	name=$(dpkg-deb -f "$deb" Package)
	version=$(dpkg-deb -f "$deb" Version)
	[[ $name == "$PACKAGE" ]] || die "downloaded package is $name, expected $PACKAGE"

	mkdir "$work/root"
	dpkg-deb --fsys-tarfile "$deb" | tar -C "$work/root" -x "./usr/share/datasets/fashion-mnist" "./usr/share/doc/$PACKAGE/copyright"
	check_md5sums "$work" "$deb" "$version"

	install_files "$work" "$version"
	log "$PACKAGE $version: extracted into $CACHE in $(elapsed "$t0") s ($(du -sm "$CACHE" | cut -f1) MB)"
}

ensure() { ensure_files TAPEGRAD_FASHION_MNIST; }

main() {
	local cmd=${1:-ensure} dir
	case $cmd in
	ensure) ensure ;;
	env)
		dir=$(ensure)
		printf 'export TAPEGRAD_FASHION_MNIST=%q\n' "$dir"
		;;
	fetch)
		if ! [[ -f $CACHE/VERSION ]] || ! has_files "$CACHE"; then
			fetch
		fi
		(cd -- "$CACHE" && pwd -P)
		;;
	system)
		if ! has_files "$SYSTEM_DIR"; then
			[[ $(id -u) == 0 ]] || die "installing $PACKAGE needs root; without root, run: $0 ensure"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PACKAGE" >&2 ||
				die "apt-get install $PACKAGE failed (an 'apt-get update' may help)"
		fi
		printf '%s\n' "$SYSTEM_DIR"
		;;
	clean)
		rm -rf -- "$CACHE"
		log "removed $CACHE"
		;;
	-h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
	*) die "unknown command '$cmd' (try --help)" ;;
	esac
}

main "$@"
