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

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS: seconds since START_MS, e.g. "3.2"
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

TMP_DIRS=()
cleanup() {
	local d
	for d in "${TMP_DIRS[@]}"; do rm -rf -- "$d"; done
}
trap cleanup EXIT
new_tmp() { # new_tmp VAR PARENT: set VAR to a new temporary directory in PARENT
	local d
	d=$(mktemp -d "$2/.tmp.XXXXXX")
	TMP_DIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

has_files() { # has_files DIR: the four files are there and not empty
	local f
	for f in "${FILES[@]}"; do
		[[ -s $1/$f ]] || return 1
	done
}

# --- apt with private state (as in scripts/cuda-toolchain.sh) ---------------

# Print "URI SUITE SIGNED-BY" for each deb source in /etc/apt (one-line .list
# and deb822 .sources); SIGNED-BY is "-" when absent or not a file path.
system_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '
			{ sub(/#.*/, "") }
			$1 == "deb" {
				line = $0; sb = "-"
				if (match(line, /\[[^]]*\]/)) {
					n = split(substr(line, RSTART + 1, RLENGTH - 2), o, /[ \t]+/)
					for (i = 1; i <= n; i++) if (o[i] ~ /^signed-by=\//) sb = substr(o[i], 11)
					line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
				}
				split(line, w)
				print w[2], w[3], sb
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk '
			function flush(  nu, ns, i, j, u, s) {
				if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
					nu = split(uris, u); ns = split(suites, s)
					for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j], sb
				}
				types = uris = suites = ""; sb = "-"; enabled = "yes"
			}
			BEGIN { sb = "-"; enabled = "yes" }
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { next }  # continuation line (e.g. an inline key)
			{
				k = tolower(substr($0, 1, index($0, ":") - 1))
				v = substr($0, index($0, ":") + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", v)
				if (k == "types") types = v
				else if (k == "uris") uris = v
				else if (k == "suites") suites = v
				else if (k == "enabled") enabled = tolower(v)
				else if (k == "signed-by" && v ~ /^\//) sb = v
			}
			END { flush() }' "$f"
	done
}

# The private sources list: the main component of bookworm on the system's own
# mirror(s), or on deb.debian.org when the system has none.
write_sources() { # write_sources APT_DIR
	local out=$1/sources.list keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	local uri suite sb opt lines=""
	if [[ -n ${TAPEGRAD_FASHION_MNIST_APT_SOURCES:-} ]]; then
		printf '%s\n' "$TAPEGRAD_FASHION_MNIST_APT_SOURCES" >"$out"
		return
	fi
	while read -r uri suite sb; do
		[[ $suite == "$SUITE" ]] || continue
		case $uri in http://* | https://*) ;; *) continue ;; esac
		[[ $sb != - ]] || sb=$keyring
		opt=""
		[[ ! -r $sb ]] || opt="[signed-by=$sb] "
		lines+="deb ${opt}${uri} ${suite} main"$'\n'
	done < <(system_sources)
	if [[ -z $lines ]]; then
		opt=""
		[[ ! -r $keyring ]] || opt="[signed-by=$keyring] "
		lines="deb ${opt}http://deb.debian.org/debian $SUITE main"$'\n'
	fi
	printf '%s' "$lines" | awk '!seen[$0]++' >"$out"
}

# apt reads /etc/apt/apt.conf.d first (so a proxy configured there applies),
# then this file, which points everything else into APT_DIR.
write_apt_conf() { # write_apt_conf APT_DIR
	local dir=$1 includes=""
	[[ ! -r /etc/apt/apt.conf ]] || includes+='#include "/etc/apt/apt.conf";'$'\n'
	[[ -z ${APT_CONFIG:-} ]] || includes+="#include \"$APT_CONFIG\";"$'\n'
	mkdir -p "$dir/empty.d" "$dir/state/lists/partial" "$dir/cache/archives/partial"
	: >"$dir/state/status"
	{
		printf '%s' "$includes"
		cat <<-EOF
			Dir::Etc::SourceList "$dir/sources.list";
			Dir::Etc::SourceParts "$dir/empty.d";
			Dir::Etc::Preferences "$dir/preferences";
			Dir::Etc::PreferencesParts "$dir/empty.d";
			Dir::State "$dir/state";
			Dir::State::Lists "$dir/state/lists";
			Dir::State::status "$dir/state/status";
			Dir::Cache "$dir/cache";
			Dir::Cache::pkgcache "";
			Dir::Cache::srcpkgcache "";
			Dir::Log "$dir/log";
			APT::Sandbox::User "$(id -un)";
			Acquire::Languages "none";
			Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
			Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
			Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
			Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled "false";
			#clear APT::Update::Pre-Invoke;
			#clear APT::Update::Post-Invoke;
			#clear APT::Update::Post-Invoke-Success;
		EOF
	} >"$dir/apt.conf"
}

# Download the .deb into DIR: with the system's package lists if they know the
# package (no index download), else with private lists.
download_deb() { # download_deb DIR
	local dir=$1 apt
	if (cd "$dir" && apt-get -qq -o APT::Sandbox::User="$(id -un)" download "$PACKAGE" >&2 2>/dev/null); then
		log "downloaded $PACKAGE with the system's package lists"
		return
	fi
	log "the system's package lists do not have $PACKAGE: looking it up in Debian $SUITE main"
	apt=$dir/apt
	mkdir -p "$apt"
	write_sources "$apt"
	write_apt_conf "$apt"
	# A failing third-party source should not stop us: only the result matters.
	APT_CONFIG=$apt/apt.conf apt-get -qq update >&2 ||
		log "apt-get update reported errors (sources: $(tr '\n' ';' <"$apt/sources.list"))"
	(cd "$dir" && APT_CONFIG=$apt/apt.conf apt-get -qq download "$PACKAGE" >&2) ||
		die "apt-get download $PACKAGE failed (sources: $(tr '\n' ';' <"$apt/sources.list"))"
	rm -rf "$apt"
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
	local t0 work deb name version f
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
	download_deb "$work"
	deb=$(printf '%s\n' "$work"/"$PACKAGE"_*.deb)
	[[ -f $deb ]] || die "apt-get download left no .deb in $work"
	name=$(dpkg-deb -f "$deb" Package)
	version=$(dpkg-deb -f "$deb" Version)
	[[ $name == "$PACKAGE" ]] || die "downloaded package is $name, expected $PACKAGE"

	mkdir "$work/root"
	dpkg-deb --fsys-tarfile "$deb" | tar -C "$work/root" -x "./usr/share/datasets/fashion-mnist" "./usr/share/doc/$PACKAGE/copyright"
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums >"$work/md5sums.all"
	for f in "${FILES[@]}"; do
		grep -E "^[0-9a-f]{32}  ${SYSTEM_DIR#/}/${f//./\\.}\$" "$work/md5sums.all" ||
			die "$PACKAGE $version: its md5sums do not list $f"
	done >"$work/md5sums"
	(cd "$work/root" && md5sum --quiet -c "$work/md5sums" >&2) || die "$PACKAGE $version: files do not match its md5sums"

	rm -f -- "$CACHE/VERSION"
	for f in "${FILES[@]}"; do
		mv -f -- "$work/root$SYSTEM_DIR/$f" "$CACHE/$f"
	done
	mv -f -- "$work/root/usr/share/doc/$PACKAGE/copyright" "$CACHE/copyright"
	printf '%s=%s\n' "$PACKAGE" "$version" >"$CACHE/VERSION"
	rm -rf -- "$work"
	log "$PACKAGE $version: extracted into $CACHE in $(elapsed "$t0") s ($(du -sm "$CACHE" | cut -f1) MB)"
}

# Print the directory that has the files, fetching them into the cache if no
# directory has.
ensure() {
	if [[ -n ${TAPEGRAD_FASHION_MNIST:-} ]] && has_files "$TAPEGRAD_FASHION_MNIST"; then
		printf '%s\n' "$TAPEGRAD_FASHION_MNIST"
		return
	fi
	if has_files "$SYSTEM_DIR"; then
		printf '%s\n' "$SYSTEM_DIR"
		return
	fi
	if [[ -n ${TAPEGRAD_FASHION_MNIST:-} ]]; then
		log "TAPEGRAD_FASHION_MNIST=$TAPEGRAD_FASHION_MNIST does not have the files; using the cache"
	fi
	if ! [[ -f $CACHE/VERSION ]] || ! has_files "$CACHE"; then
		fetch
	fi
	(cd -- "$CACHE" && pwd -P)
}

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
