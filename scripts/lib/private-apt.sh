# scripts/lib/private-apt.sh: what scripts/cuda-toolchain.sh,
# scripts/fashion-mnist.sh and scripts/fortunes.sh share, sourced by each
# (bash, set -euo pipefail): timing, temporary directories removed at exit,
# and apt run with a private configuration, sources list and state (no root;
# /var/lib/apt is never touched). The caller defines log and die.

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS: seconds since START_MS, e.g. "3.2"
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# A temporary directory that is removed when the script exits. mktemp must run
# in this shell (not in $(...)), or the cleanup list would be lost. The names
# start with .tmp., so that a later run can remove what an interrupted one
# left in PARENT.
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

# write_sources OUT COMPONENT OVERRIDE SUITE...: write the private sources
# list OUT: COMPONENT of the given suites on the system's own Debian
# mirror(s), or on deb.debian.org (debian-security for a -security suite)
# when the system has none (e.g. it is not Debian 12). A non-empty OVERRIDE
# (one-line sources from the user) is written instead.
write_sources() {
	local out=$1 component=$2 override=$3
	shift 3
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	local uri suite sb opt s want lines=""
	if [[ -n $override ]]; then
		printf '%s\n' "$override" >"$out"
		return
	fi
	while read -r uri suite sb; do
		want=""
		for s in "$@"; do [[ $suite != "$s" ]] || want=1; done
		[[ -n $want ]] || continue
		case $uri in http://* | https://*) ;; *) continue ;; esac
		[[ $sb != - ]] || sb=$keyring
		opt=""
		[[ ! -r $sb ]] || opt="[signed-by=$sb] "
		lines+="deb ${opt}${uri} ${suite} $component"$'\n'
	done < <(system_sources)
	if [[ -z $lines ]]; then
		opt=""
		[[ ! -r $keyring ]] || opt="[signed-by=$keyring] "
		for s in "$@"; do
			uri=http://deb.debian.org/debian
			[[ $s != *-security ]] || uri=http://deb.debian.org/debian-security
			lines+="deb ${opt}$uri $s $component"$'\n'
		done
	fi
	printf '%s' "$lines" | awk '!seen[$0]++' >"$out"
}

# write_apt_conf DIR [ARCH]: write DIR/apt.conf, which points apt's sources,
# state, cache and log into DIR (and, with ARCH, sets the one architecture)
# and drops the system's update hooks (PackageKit, appstream). apt reads
# /etc/apt/apt.conf.d first (so a proxy configured there still applies), then
# the file named by APT_CONFIG: this one, which includes /etc/apt/apt.conf and
# any APT_CONFIG the caller set, since APT_CONFIG replaces them.
write_apt_conf() {
	local dir=$1 arch=${2:-} includes=""
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
		if [[ -n $arch ]]; then
			cat <<-EOF
				APT::Architecture "$arch";
				#clear APT::Architectures;
				APT::Architectures { "$arch"; };
			EOF
		fi
	} >"$dir/apt.conf"
}

# download_deb DIR PACKAGE COMPONENT OVERRIDE SUITE: download PACKAGE's .deb
# into DIR with `apt-get download` (which checks it against the signed
# package index): with the system's package lists if they know the package
# (no index download), else with private lists of COMPONENT of SUITE (see
# write_sources; a non-empty OVERRIDE is used as the sources list) in DIR/apt,
# removed afterwards.
download_deb() {
	local dir=$1 package=$2 component=$3 override=$4 suite=$5 apt
	if (cd "$dir" && apt-get -qq -o APT::Sandbox::User="$(id -un)" download "$package" >&2 2>/dev/null); then
		log "downloaded $package with the system's package lists"
		return
	fi
	log "the system's package lists do not have $package: looking it up in Debian $suite $component"
	apt=$dir/apt
	mkdir -p "$apt"
	write_sources "$apt/sources.list" "$component" "$override" "$suite"
	write_apt_conf "$apt"
	# A failing third-party source should not stop us: only the result matters.
	APT_CONFIG=$apt/apt.conf apt-get -qq update >&2 ||
		log "apt-get update reported errors (sources: $(tr '\n' ';' <"$apt/sources.list"))"
	(cd "$dir" && APT_CONFIG=$apt/apt.conf apt-get -qq download "$package" >&2) ||
		die "apt-get download $package failed (sources: $(tr '\n' ';' <"$apt/sources.list"))"
	rm -rf "$apt"
}

# --- the dataset scripts' common steps ------------------------------------------
# They use the caller's PACKAGE, SYSTEM_DIR (where the package puts the
# files), CACHE, FILES (the file names) and has_files DIR.

# check_md5sums WORK DEB VERSION: the files extracted under WORK/root
# match the package's md5sums.
check_md5sums() {
	local work=$1 deb=$2 version=$3 f
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums >"$work/md5sums.all"
	for f in "${FILES[@]}"; do
		grep -E "^[0-9a-f]{32}  ${SYSTEM_DIR#/}/${f//./\\.}\$" "$work/md5sums.all" ||
			die "$PACKAGE $version: its md5sums do not list $f"
	done >"$work/md5sums"
	(cd "$work/root" && md5sum --quiet -c "$work/md5sums" >&2) || die "$PACKAGE $version: files do not match its md5sums"
}

# install_files WORK VERSION: move the files and the package's copyright
# from WORK/root into CACHE, record the version, remove WORK.
install_files() {
	local work=$1 version=$2 f
	rm -f -- "$CACHE/VERSION"
	for f in "${FILES[@]}"; do
		mv -f -- "$work/root$SYSTEM_DIR/$f" "$CACHE/$f"
	done
	mv -f -- "$work/root/usr/share/doc/$PACKAGE/copyright" "$CACHE/copyright"
	printf '%s=%s\n' "$PACKAGE" "$version" >"$CACHE/VERSION"
	rm -rf -- "$work"
}

# ensure_files VAR: print the directory that has the files: $VAR if set and
# complete, else SYSTEM_DIR, else CACHE, calling the caller's fetch first if
# the cache is not complete.
ensure_files() {
	local var=$1
	if [[ -n ${!var:-} ]] && has_files "${!var}"; then
		printf '%s\n' "${!var}"
		return
	fi
	if has_files "$SYSTEM_DIR"; then
		printf '%s\n' "$SYSTEM_DIR"
		return
	fi
	if [[ -n ${!var:-} ]]; then
		log "$var=${!var} does not have the files; using the cache"
	fi
	if ! [[ -f $CACHE/VERSION ]] || ! has_files "$CACHE"; then
		fetch
	fi
	(cd -- "$CACHE" && pwd -P)
}
