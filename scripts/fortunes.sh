#!/usr/bin/env bash
# scripts/fortunes.sh: make the fortunes text corpus available and print the
# directory that holds it.
#
# The corpus is the 40 plain-text fortune files of Debian 12's package
# fortunes (main; an 849 KB .deb, fortune-mod 1:1.99.1-7.3): 2,478,275 bytes
# of English, 114 distinct byte values. The package's .dat files (indexes
# for the fortune program) and .u8 symlinks are left out, and so are the
# three files of fortunes-min (fortunes, literature, riddles), which the
# package depends on but does not hold. The script looks for the 40 files,
# in order, in
#
#   $TAPEGRAD_FORTUNES            if set
#   /usr/share/games/fortunes     where the installed package puts them
#   the cache, <repo>/.cache/fortunes (or $TAPEGRAD_FORTUNES_CACHE)
#
# and prints the first directory that has them. If none has, it downloads the
# .deb with `apt-get download` (which checks it against the signed package
# index), extracts the 40 files and the package's copyright into the cache,
# checks them against the package's md5sums and deletes the .deb; no root,
# nothing installed, /var/lib/apt never touched (see scripts/fashion-mnist.sh,
# which works the same way).
#
# tapegrad's data.Fortunes("") finds the cache from anywhere inside the
# checkout, so nothing needs to be set after the first run.
#
# Usage: scripts/fortunes.sh [command]
#   ensure   (default) fetch unless the files are somewhere above, print the
#            directory
#   env      like ensure, but print `export TAPEGRAD_FORTUNES=DIR`:
#              eval "$(scripts/fortunes.sh env)"
#   fetch    fill the cache even if the files are installed elsewhere, print it
#   clean    delete the cache
#
# Environment:
#   TAPEGRAD_FORTUNES              a directory that already has the files
#   TAPEGRAD_FORTUNES_CACHE        cache directory (default: <repo>/.cache/fortunes)
#   TAPEGRAD_FORTUNES_APT_SOURCES  one-line apt sources to use instead of the
#                                  ones derived from /etc/apt, e.g.
#                                  "deb http://deb.debian.org/debian bookworm main"
set -euo pipefail

readonly PACKAGE=fortunes
readonly SUITE=bookworm # for the private sources; the system's lists may name others
readonly SYSTEM_DIR=/usr/share/games/fortunes
# The corpus, in the order in which data.LoadFortunes concatenates the files
# (sorted by name, bytewise); the same list as data.FortunesFiles.
readonly FILES=(
	art ascii-art computers cookie debian definitions disclaimer drugs
	education ethnic food goedel humorists kids knghtbrd law linux linuxcookie
	love magic medicine men-women miscellaneous news paradoxum people perl pets
	platitudes politics pratchett science songs-poems sports startrek tao
	translate-me wisdom work zippy
)

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CACHE=${TAPEGRAD_FORTUNES_CACHE:-$REPO_ROOT/.cache/fortunes}

log() { printf 'fortunes: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=lib/private-apt.sh
source "$SCRIPT_DIR/lib/private-apt.sh"

has_files() { # has_files DIR: the 40 files are there, plain and not empty
	local f
	for f in "${FILES[@]}"; do
		[[ -f $1/$f && -s $1/$f ]] || return 1
	done
}

require_host() {
	local tool
	for tool in apt-get dpkg-deb tar md5sum; do
		command -v "$tool" >/dev/null || die "$tool not found: this script needs a Debian-based system (apt and dpkg); or put the fortune files ${FILES[*]} of fortune-mod's datfiles in a directory and set TAPEGRAD_FORTUNES to it"
	done
}

# Fill the cache: download, extract, check, then move the files into place,
# VERSION last (its presence means the cache is complete).
fetch() {
	local t0 work deb name version f extra
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
	download_deb "$work" "$PACKAGE" main "${TAPEGRAD_FORTUNES_APT_SOURCES:-}" "$SUITE"
	deb=$(printf '%s\n' "$work"/"$PACKAGE"_*.deb)
	[[ -f $deb ]] || die "apt-get download left no .deb in $work"
	name=$(dpkg-deb -f "$deb" Package)
	version=$(dpkg-deb -f "$deb" Version)
	[[ $name == "$PACKAGE" ]] || die "downloaded package is $name, expected $PACKAGE"

	mkdir "$work/root"
	dpkg-deb -x "$deb" "$work/root"
	for f in "${FILES[@]}"; do
		[[ -f $work/root$SYSTEM_DIR/$f && ! -L $work/root$SYSTEM_DIR/$f ]] ||
			die "$PACKAGE $version has no plain file $SYSTEM_DIR/$f"
	done
	check_md5sums "$work" "$deb" "$version"
	# Plain files the list lacks (a later version of the package): say so,
	# and leave them out, so that the corpus stays the same.
	extra=$(cd "$work/root$SYSTEM_DIR" && find . -type f ! -name '*.dat' ! -name '*.u8' | sed 's|^\./||' | sort |
		grep -vxF -f <(printf '%s\n' "${FILES[@]}") || true)
	[[ -z $extra ]] || log "$PACKAGE $version also has $(echo "$extra" | tr '\n' ' ')(not part of the corpus: left out)"

	install_files "$work" "$version"
	log "$PACKAGE $version: ${#FILES[@]} files, $(cd "$CACHE" && cat -- "${FILES[@]}" | wc -c) bytes, extracted into $CACHE in $(elapsed "$t0") s"
}

ensure() { ensure_files TAPEGRAD_FORTUNES; }

main() {
	local cmd=${1:-ensure} dir
	case $cmd in
	ensure) ensure ;;
	env)
		dir=$(ensure)
		printf 'export TAPEGRAD_FORTUNES=%q\n' "$dir"
		;;
	fetch)
		if ! [[ -f $CACHE/VERSION ]] || ! has_files "$CACHE"; then
			fetch
		fi
		(cd -- "$CACHE" && pwd -P)
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
