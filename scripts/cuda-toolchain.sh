#!/usr/bin/env bash
# scripts/cuda-toolchain.sh: a CUDA 11.8 toolchain for building without a GPU
# or a CUDA install.
#
# It takes the toolchain from Debian 12 (bookworm) non-free, without
# installing it. A full `apt-get install nvidia-cuda-toolkit` downloads about
# 1.6 GB and uses about 6 GB of disk. This script downloads about 90 MB and
# keeps about 190 MB, in an ignored directory of the repository:
#
#   nvidia-cuda-toolkit  nvcc, cicc, libdevice, ptxas, fatbinary, nvlink, ...
#                        (apt-get download, checked against the signed index)
#   nvidia-cuda-dev      only /usr/include (cuda.h, cuda_runtime.h, cublas_v2.h,
#                        ...). Its /usr/include is the first 2.3 MB of a 774 MB
#                        .deb, so we stream that prefix and stop there. The files
#                        are checked against the package's own md5sums. See
#                        TAPEGRAD_CUDA_VERIFY=full for the slow, fully checked path.
#   libcuda1             libcuda.so (the driver library), for `-lcuda` at link time
#
# apt runs with its own config, sources list and state under the cache
# directory. It works with or without root and never touches /var/lib/apt.
#
# Usage: scripts/cuda-toolchain.sh [command]
#   ensure   (default) fetch the toolchain unless it is cached, write env.sh and
#            print its path
#   env      like ensure, but print the `export ...` lines instead:
#              eval "$(scripts/cuda-toolchain.sh env)"
#   check    ensure, then run the self-test: nvcc -> PTX, ptxas sm_80/sm_90,
#            cgo builds against cuda.h, -lcuda and gorgonia.org/cu
#   refresh  look up the package versions again (apt-get update) and fetch
#            again if they changed (e.g. a libcuda1 security update)
#   clean    delete the cache directory
#
# Environment:
#   TAPEGRAD_CUDA_CACHE        cache directory (default: <repo>/.cache/cuda)
#   TAPEGRAD_CUDA_APT_SOURCES  one-line apt sources to use instead of the ones
#                              derived from /etc/apt (newline-separated), e.g.
#                              "deb http://deb.debian.org/debian bookworm non-free"
#   TAPEGRAD_CUDA_VERIFY       "headers" (default): stream the nvidia-cuda-dev
#                              prefix and check the headers against the
#                              package's md5sums. "full": download the whole
#                              774 MB .deb with apt, which checks it against the
#                              signed index, then delete it.
set -euo pipefail

# --- constants ---------------------------------------------------------------

readonly SUITE=bookworm              # the Debian release that ships CUDA 11.8
readonly CUDA_SERIES=11.8            # nvidia-cuda-toolkit must be 11.8.*
readonly ARCH=amd64
readonly TRIPLET=x86_64-linux-gnu
# Raise this when the set of extracted files or the generated files change, so
# that existing caches are rebuilt.
readonly LAYOUT=1

# Flags pinned for the project's kernels; the self-test uses them too.
#   -ptx                   emit PTX, which the driver JIT-compiles for the GPU
#                          it runs on (sm_80, sm_86, sm_89, sm_90, ...)
#   -arch=compute_80       baseline virtual architecture: Ampere (A100) and
#                          newer. PTX ISA 7.8 needs a driver >= 520.
#   --std=c++17            pin the dialect rather than follow the host g++
#   -O3                    host-side optimisation (the device side is -O3 by default)
# No --use_fast_math: it flushes denormals to zero and approximates division
# and sqrt, which changes the numbers gradient checks compare.
readonly NVCC_PTX_FLAGS="-ptx -arch=compute_80 --std=c++17 -O3"

# Members extracted from nvidia-cuda-toolkit: the compiler driver and what
# it runs, plus the usual binary tools. Left out: compute-sanitizer,
# cuda-memcheck, the Debian wrappers /usr/bin/nvcc (hard-coded paths) and
# usr/lib/nvidia-cuda-toolkit/bin/{gcc,g++} (they pick g++-11 or older, and
# a gcc on PATH breaks cgo).
readonly TOOLKIT_MEMBERS=(
	./usr/bin/ptxas
	./usr/bin/fatbinary
	./usr/bin/nvlink
	./usr/bin/cudafe++
	./usr/bin/bin2c
	./usr/bin/cuobjdump
	./usr/bin/nvdisasm
	./usr/bin/nvprune
	./usr/bin/cu++filt
	./usr/bin/__nvcc_device_query
	./usr/include/nvvm.h
	./usr/lib/nvidia-cuda-toolkit/bin/nvcc
	./usr/lib/nvidia-cuda-toolkit/bin/cicc
	./usr/lib/nvidia-cuda-toolkit/bin/crt
	./usr/lib/nvidia-cuda-toolkit/libdevice
	./usr/share/doc/nvidia-cuda-toolkit/copyright
)
readonly DRIVER_MEMBERS=(
	"./usr/lib/$TRIPLET/nvidia/current"
	./usr/share/doc/libcuda1/copyright
)

# --- paths -------------------------------------------------------------------

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CACHE=${TAPEGRAD_CUDA_CACHE:-$REPO_ROOT/.cache/cuda}
VERIFY=${TAPEGRAD_CUDA_VERIFY:-headers}

# Set once the cache directory exists (it is made absolute then).
TOOLCHAIN=""   # $CACHE/toolchain: the extracted tree
CUDA_ROOT=""   # $TOOLCHAIN/usr: include/, bin/, lib/
APT_DIR=""     # $CACHE/apt: private apt config and state
ENV_FILE=""    # $CACHE/env.sh

# --- helpers -----------------------------------------------------------------

log() { printf 'cuda-toolchain: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=lib/private-apt.sh
source "$SCRIPT_DIR/lib/private-apt.sh"

init_paths() {
	mkdir -p -- "$CACHE"
	CACHE=$(cd -- "$CACHE" && pwd -P)
	TOOLCHAIN=$CACHE/toolchain
	CUDA_ROOT=$TOOLCHAIN/usr
	APT_DIR=$CACHE/apt
	ENV_FILE=$CACHE/env.sh
}

# Serialise concurrent runs (e.g. parallel CI jobs sharing a cache).
take_lock() {
	if command -v flock >/dev/null; then
		exec 9>"$CACHE/.lock"
		flock 9
	fi
}

require_host() {
	local tool
	for tool in apt-get apt-cache apt-config dpkg-deb tar; do
		command -v "$tool" >/dev/null || die "$tool not found: this script needs a Debian-based system (apt and dpkg)"
	done
	[[ $(uname -m) == x86_64 ]] || die "only x86_64 is supported (CUDA 11.8 from Debian $ARCH)"
}

# --- apt with private state (scripts/lib/private-apt.sh) --------------------

papt() { # papt CMD ARGS...: run an apt tool with the private configuration
	local cmd=$1
	shift
	APT_CONFIG=$APT_DIR/apt.conf "$cmd" "$@"
}

apt_update() {
	mkdir -p "$APT_DIR"
	# The non-free component of bookworm, bookworm-updates and bookworm-security.
	write_sources "$APT_DIR/sources.list" non-free "${TAPEGRAD_CUDA_APT_SOURCES:-}" "$SUITE" "$SUITE-updates" "$SUITE-security"
	write_apt_conf "$APT_DIR" "$ARCH"
	papt apt-get -qq update >&2 || die "apt-get update failed (sources: $APT_DIR/sources.list)"
}

candidate_version() { # candidate_version PKG
	local v
	v=$(papt apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p') || true
	printf '%s' "${v%%$'\n'*}"
}

# --- fetching and extracting -------------------------------------------------

# Sets TOOLKIT_VERSION and DRIVER_VERSION from the package index.
resolve_versions() {
	TOOLKIT_VERSION=$(candidate_version nvidia-cuda-toolkit)
	DRIVER_VERSION=$(candidate_version libcuda1)
	[[ -n $TOOLKIT_VERSION ]] || die "nvidia-cuda-toolkit not found in $(tr '\n' ';' <"$APT_DIR/sources.list")"
	[[ -n $DRIVER_VERSION ]] || die "libcuda1 not found in the non-free sources"
	[[ $TOOLKIT_VERSION == "$CUDA_SERIES".* ]] ||
		die "nvidia-cuda-toolkit is $TOOLKIT_VERSION, expected CUDA $CUDA_SERIES (Debian $SUITE)"
}

stamp_text() {
	printf 'layout=%s\nnvidia-cuda-toolkit=%s\nnvidia-cuda-dev=%s\nlibcuda1=%s\n' \
		"$LAYOUT" "$TOOLKIT_VERSION" "$TOOLKIT_VERSION" "$DRIVER_VERSION"
}

# Print the proxy apt would use for URL's scheme, if any, for curl/wget.
apt_proxy() {
	local scheme=${1%%://*} proxy=""
	eval "$(papt apt-config shell proxy "Acquire::$scheme::Proxy")"
	[[ $proxy == DIRECT ]] || printf '%s' "$proxy"
}

# Stream the start of nvidia-cuda-dev's .deb into tar, which extracts
# ./usr/include (the first members of data.tar.xz) and, with --occurrence,
# stops reading at the first member after it; that ends the download too.
# A copy of the streamed prefix goes to $2/head.deb for the md5sums check.
stream_dev_headers() { # stream_dev_headers DEST WORKDIR
	local dest=$1 work=$2 uri proxy
	uri=$(papt apt-get download --print-uris "nvidia-cuda-dev=$TOOLKIT_VERSION" | awk '{print $1}' | tr -d "'")
	[[ -n $uri ]] || die "no download URI for nvidia-cuda-dev=$TOOLKIT_VERSION"
	proxy=$(apt_proxy "$uri")
	local -a fetch
	if command -v curl >/dev/null; then
		fetch=(curl -fsS --connect-timeout 30)
		[[ -z $proxy ]] || fetch+=(--proxy "$proxy")
	else
		fetch=(wget -q -O - --timeout=30)
		[[ -z $proxy ]] || fetch+=(-e use_proxy=on -e "http_proxy=$proxy" -e "https_proxy=$proxy")
	fi
	# The producers die of SIGPIPE once tar stops reading, so only tar's status
	# counts here; the md5sums check below catches a short or corrupt stream.
	local rc
	set +o pipefail
	"${fetch[@]}" "$uri" 2>"$work/fetch.err" |
		tee "$work/head.deb" |
		dpkg-deb --fsys-tarfile /dev/stdin 2>"$work/dpkg-deb.err" |
		tar -C "$dest" -x --occurrence ./usr/include
	rc=${PIPESTATUS[3]}
	set -o pipefail
	if [[ $rc != 0 ]]; then
		cat "$work/fetch.err" "$work/dpkg-deb.err" >&2
		die "streaming the headers of nvidia-cuda-dev failed ($uri)"
	fi
	log "nvidia-cuda-dev: streamed $(($(stat -c %s "$work/head.deb") / 1024)) KiB of $uri"
}

# Check the extracted headers against the md5sums in the package's control
# archive (which precedes the data in the .deb) and check the package name and
# version. This catches truncation and corruption; it is not a signature check
# (see TAPEGRAD_CUDA_VERIFY=full).
verify_dev_headers() { # verify_dev_headers DEST DEB
	local dest=$1 deb=$2 name version
	name=$(dpkg-deb -f "$deb" Package)
	version=$(dpkg-deb -f "$deb" Version)
	[[ $name == nvidia-cuda-dev && $version == "$TOOLKIT_VERSION" ]] ||
		die "streamed package is $name $version, expected nvidia-cuda-dev $TOOLKIT_VERSION"
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums | grep '  usr/include/' >"$deb.md5sums"
	[[ -s $deb.md5sums ]] || die "nvidia-cuda-dev lists no usr/include files in its md5sums"
	(cd "$dest" && md5sum --quiet -c "$deb.md5sums" >&2) ||
		die "nvidia-cuda-dev headers do not match the package's md5sums"
}

# Build the whole toolchain in a temporary directory next to the cache, then
# rename it into place: an interrupted run leaves no half-made toolchain.
install_toolchain() {
	local t0 work root
	t0=$(now_ms)
	new_tmp work "$CACHE"
	root=$work/toolchain
	mkdir -p "$root" "$work/debs"

	log "downloading nvidia-cuda-toolkit $TOOLKIT_VERSION and libcuda1 $DRIVER_VERSION"
	(cd "$work/debs" && papt apt-get -qq download \
		"nvidia-cuda-toolkit=$TOOLKIT_VERSION" "libcuda1=$DRIVER_VERSION" >&2) ||
		die "apt-get download failed"

	log "extracting the compiler tools and libcuda"
	dpkg-deb --fsys-tarfile "$work"/debs/nvidia-cuda-toolkit_*.deb | tar -C "$root" -x "${TOOLKIT_MEMBERS[@]}"
	dpkg-deb --fsys-tarfile "$work"/debs/libcuda1_*.deb | tar -C "$root" -x "${DRIVER_MEMBERS[@]}"

	local full=yes
	if [[ $VERIFY == headers ]]; then
		if command -v curl >/dev/null || command -v wget >/dev/null; then
			full=no
		else
			log "neither curl nor wget found: downloading all of nvidia-cuda-dev instead"
		fi
	fi
	if [[ $full == no ]]; then
		stream_dev_headers "$root" "$work"
		verify_dev_headers "$root" "$work/head.deb"
	else
		log "downloading all of nvidia-cuda-dev (774 MB; apt checks its hash) for its headers"
		(cd "$work/debs" && papt apt-get -qq download "nvidia-cuda-dev=$TOOLKIT_VERSION" >&2) ||
			die "apt-get download nvidia-cuda-dev failed"
		set +o pipefail
		dpkg-deb --fsys-tarfile "$work"/debs/nvidia-cuda-dev_*.deb 2>/dev/null |
			tar -C "$root" -x --occurrence ./usr/include
		local rc=${PIPESTATUS[1]}
		set -o pipefail
		[[ $rc == 0 ]] || die "extracting the headers of nvidia-cuda-dev failed"
	fi
	rm -rf "$work/debs"

	write_generated_files "$root/usr"
	stamp_text >"$root/VERSIONS"
	[[ -x $root/usr/bin/nvcc && -r $root/usr/include/cuda.h && -e $root/usr/lib/$TRIPLET/nvidia/current/libcuda.so ]] ||
		die "extracted tree is incomplete"

	rm -rf "$CACHE/toolchain.old"
	[[ ! -e $TOOLCHAIN ]] || mv "$TOOLCHAIN" "$CACHE/toolchain.old"
	mv "$root" "$TOOLCHAIN"
	rm -rf "$CACHE/toolchain.old"
	log "toolchain ready in $(elapsed "$t0") s: $TOOLCHAIN ($(du -sm "$TOOLCHAIN" | cut -f1) MB)"
}

# nvcc.profile and the nvcc wrapper, both relative to their own location so
# that the cache directory can move.
write_generated_files() { # write_generated_files USR
	local usr=$1
	# The package's nvcc.profile is a link to /etc/nvcc.profile, which holds
	# absolute /usr paths. nvcc expands $(_HERE_) to its own directory.
	rm -f "$usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile"
	cat >"$usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile" <<-'EOF'
		# Written by scripts/cuda-toolchain.sh: paths relative to this directory.
		TOP                = $(_HERE_)/../../..
		NVVMIR_LIBRARY_DIR = $(_HERE_)/../libdevice
		PATH              += $(_HERE_):$(TOP)/bin:
		INCLUDES          += "-I$(TOP)/include" $(_SPACE_)
		LIBRARIES         =+ $(_SPACE_) "-L$(TOP)/lib/x86_64-linux-gnu/nvidia/current"
	EOF
	# A wrapper named nvcc in usr/bin, which has no gcc/g++ in it, so the
	# directory is safe on PATH (unlike usr/lib/nvidia-cuda-toolkit/bin).
	cat >"$usr/bin/nvcc" <<-'EOF'
		#!/bin/sh
		# Written by scripts/cuda-toolchain.sh. nvcc 11.8 refuses gcc > 11 unless
		# given -allow-unsupported-compiler; with gcc 12 the PTX is identical.
		# Uses g++ from PATH as the host compiler unless -ccbin/--compiler-bindir
		# is given or NVCC_CCBIN is set.
		here=$(dirname "$(readlink -f "$0")")
		nvcc=$here/../lib/nvidia-cuda-toolkit/bin/nvcc
		ccbin=${NVCC_CCBIN:-}
		for arg in "$@"; do
		  case $arg in -ccbin | -ccbin=* | --compiler-bindir | --compiler-bindir=*) ccbin=given ;; esac
		done
		if [ -z "$ccbin" ] && cxx=$(command -v g++); then
		  exec "$nvcc" -ccbin "$cxx" -allow-unsupported-compiler "$@"
		fi
		exec "$nvcc" -allow-unsupported-compiler "$@"
	EOF
	chmod 755 "$usr/bin/nvcc"
}

# Write env.sh (absolute paths, so rewritten whenever it differs).
write_env() {
	local lib=$CUDA_ROOT/lib/$TRIPLET/nvidia/current text
	# Go's default CGO_CFLAGS/CGO_LDFLAGS are "-O2 -g"; setting them replaces
	# the default, so keep it.
	text=$(
		cat <<-EOF
			# CUDA $CUDA_SERIES toolchain from scripts/cuda-toolchain.sh ($(paste -sd ' ' "$TOOLCHAIN/VERSIONS"))
			export CUDA_ROOT='$CUDA_ROOT'
			export NVCC='$CUDA_ROOT/bin/nvcc'
			export PTXAS='$CUDA_ROOT/bin/ptxas'
			export TAPEGRAD_NVCC_PTX_FLAGS='$NVCC_PTX_FLAGS'
			export CGO_CFLAGS='-O2 -g -I$CUDA_ROOT/include'
			export CGO_LDFLAGS='-O2 -g -L$lib'
			# libcuda.so.1 from libcuda1, for running cgo binaries where no driver is
			# installed (cuInit then fails cleanly). Not exported as LD_LIBRARY_PATH:
			# on a GPU machine it would shadow the installed driver.
			export TAPEGRAD_CUDA_DRIVER_LIB='$lib'
		EOF
	)
	if [[ ! -f $ENV_FILE || $(<"$ENV_FILE") != "$text" ]]; then
		printf '%s\n' "$text" >"$ENV_FILE.tmp"
		mv "$ENV_FILE.tmp" "$ENV_FILE"
	fi
}

# Make sure the toolchain is there; with "refresh", look the versions up again.
ensure() { # ensure [refresh]
	init_paths
	if [[ ${1:-} != refresh && -f $TOOLCHAIN/VERSIONS ]] &&
		grep -qx "layout=$LAYOUT" "$TOOLCHAIN/VERSIONS"; then
		write_env # fast path: no network, no lock
		return
	fi
	require_host
	[[ $VERIFY == headers || $VERIFY == full ]] ||
		die "TAPEGRAD_CUDA_VERIFY must be 'headers' or 'full', not '$VERIFY'"
	take_lock
	rm -rf "$CACHE"/.tmp.* "$CACHE/toolchain.old" # left by interrupted runs
	log "looking up CUDA $CUDA_SERIES in Debian $SUITE non-free"
	apt_update
	resolve_versions
	if [[ -f $TOOLCHAIN/VERSIONS && $(<"$TOOLCHAIN/VERSIONS") == "$(stamp_text)" ]]; then
		log "up to date: $(paste -sd ' ' "$TOOLCHAIN/VERSIONS")"
	else
		install_toolchain
	fi
	write_env
}

# --- self-test ---------------------------------------------------------------

check() {
	ensure
	# shellcheck source=/dev/null
	. "$ENV_FILE"
	local t0 t work
	t0=$(now_ms)
	new_tmp work "${TMPDIR:-/tmp}"

	# 1. Two kernels, float and double, to PTX with the pinned flags.
	cat >"$work/axpy.cu" <<-'EOF'
		// y = a*x + y, grid-stride loop
		template <typename T>
		__device__ void axpy(int n, T a, const T *__restrict__ x, T *__restrict__ y) {
			for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
				y[i] = a * x[i] + y[i];
		}
		extern "C" __global__ void axpy_f32(int n, float a, const float *x, float *y) { axpy(n, a, x, y); }
		extern "C" __global__ void axpy_f64(int n, double a, const double *x, double *y) { axpy(n, a, x, y); }
	EOF
	t=$(now_ms)
	# shellcheck disable=SC2086 # the flags are a word list
	"$NVCC" $TAPEGRAD_NVCC_PTX_FLAGS -o "$work/axpy.ptx" "$work/axpy.cu"
	grep -q '^\.version 7\.8$' "$work/axpy.ptx" || die "PTX: expected .version 7.8"
	grep -q '^\.target sm_80$' "$work/axpy.ptx" || die "PTX: expected .target sm_80"
	grep -q '\.entry axpy_f32' "$work/axpy.ptx" || die "PTX: axpy_f32 missing"
	grep -q '\.entry axpy_f64' "$work/axpy.ptx" || die "PTX: axpy_f64 missing"
	log "ok   nvcc $TAPEGRAD_NVCC_PTX_FLAGS: PTX ISA 7.8, .target sm_80, 2 kernels ($(elapsed "$t") s)"

	# 2. Assemble the PTX for A100 (sm_80) and H100 (sm_90).
	local sm
	for sm in sm_80 sm_90; do
		t=$(now_ms)
		"$PTXAS" -arch="$sm" -O3 -o "$work/axpy.$sm.cubin" "$work/axpy.ptx"
		[[ -s $work/axpy.$sm.cubin ]] || die "ptxas -arch=$sm wrote nothing"
		log "ok   ptxas -arch=$sm ($(elapsed "$t") s)"
	done

	# 3. cgo: a throwaway module outside the repository (no go.mod changes
	# here) with two packages built with -tags cuda:
	#   ./cu   imports gorgonia.org/cu v0.9.6 (the driver API binding)
	#   ./own  our own cgo: <cuda.h>, cuLaunchKernel, cuMemHostAlloc, and
	#          libcublas dlopen-ed at run time with only -ldl
	local mod=$work/gomod
	mkdir -p "$mod/cu" "$mod/own"
	cat >"$mod/go.mod" <<-'EOF'
		module cudacheck

		go 1.21
	EOF
	cat >"$mod/cu/main.go" <<-'EOF'
		//go:build cuda

		package main

		import (
			"fmt"

			"gorgonia.org/cu"
		)

		func main() {
			n, err := cu.NumDevices()
			fmt.Println("driver", cu.Version(), "devices", n, err)
		}
	EOF
	cat >"$mod/own/main.go" <<-'EOF'
		//go:build cuda

		package main

		/*
		#cgo LDFLAGS: -lcuda -ldl
		#include <cuda.h>
		#include <dlfcn.h>
		#include <stdlib.h>
		#include <cublas_v2.h> // types only: cuBLAS itself is dlopen-ed

		typedef cublasStatus_t (*sgemm_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
			int, int, int, const float *, const float *, int, const float *, int,
			const float *, float *, int);

		// Returns cublasSgemm_v2 from libcublas, or NULL when it is not installed.
		static sgemm_fn load_sgemm(void) {
			void *h = dlopen("libcublas.so.11", RTLD_NOW | RTLD_LOCAL);
			return h ? (sgemm_fn)dlsym(h, "cublasSgemm_v2") : NULL;
		}

		static CUresult launch(CUfunction f, CUstream s, int n, float a, CUdeviceptr x, CUdeviceptr y) {
			void *args[] = {&n, &a, &x, &y};
			return cuLaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, s, args, NULL);
		}
		*/
		import "C"

		import (
			"fmt"
			"os"
			"unsafe"
		)

		func main() {
			fmt.Println("cublas sgemm loaded:", C.load_sgemm() != nil)
			if r := C.cuInit(0); r != C.CUDA_SUCCESS {
				fmt.Println("cuInit:", int(r), "(expected without a GPU)")
				return
			}
			var n C.int
			C.cuDeviceGetCount(&n)
			fmt.Println("devices:", int(n))
			if len(os.Args) > 1 { // never in the self-test; keeps the calls linked
				var p unsafe.Pointer
				fmt.Println(C.cuMemHostAlloc(&p, 1<<20, C.CU_MEMHOSTALLOC_PORTABLE))
				fmt.Println(C.launch(nil, nil, 1, 2, 0, 0))
			}
		}
	EOF
	t=$(now_ms)
	(
		cd "$mod"
		export GOFLAGS=-mod=mod CGO_ENABLED=1 GOWORK=off
		go get gorgonia.org/cu@v0.9.6 2>&1 | grep -v '^go: \(downloading\|added\)' >&2 || true
		go build -tags cuda -o cu.bin ./cu
		go build -tags cuda -o own.bin ./own
		go vet -tags cuda ./...
	) || die "go build/vet -tags cuda failed"
	log "ok   go build + go vet -tags cuda: gorgonia.org/cu v0.9.6 and cgo with <cuda.h>, <cublas_v2.h>, -lcuda -ldl ($(elapsed "$t") s)"

	# 4. Run our cgo binary. Without a GPU, cuInit fails cleanly when it finds
	# libcuda.so.1; use the driver library from libcuda1 if the system has none.
	local out ldpath=""
	local ldcache
	ldcache=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null || true)
	[[ $ldcache == *'libcuda.so.1 '* ]] || ldpath=$TAPEGRAD_CUDA_DRIVER_LIB
	out=$(LD_LIBRARY_PATH=$ldpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$mod/own.bin" | tr '\n' ' ') ||
		die "running the cgo binary failed"
	log "ok   run ${ldpath:+(LD_LIBRARY_PATH=\$TAPEGRAD_CUDA_DRIVER_LIB) }cgo binary: $out"
	log "all checks passed in $(elapsed "$t0") s"
}

# --- main --------------------------------------------------------------------

main() {
	local cmd=${1:-ensure}
	case $cmd in
	ensure | install)
		ensure
		printf '%s\n' "$ENV_FILE"
		;;
	env)
		ensure
		grep '^export ' "$ENV_FILE"
		;;
	refresh | update)
		ensure refresh
		printf '%s\n' "$ENV_FILE"
		;;
	check) check ;;
	clean)
		init_paths
		rm -rf -- "$CACHE"
		log "removed $CACHE"
		;;
	-h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
	*) die "unknown command '$cmd' (try --help)" ;;
	esac
}

main "$@"
