#!/usr/bin/env bash
# kernels/check.sh: the CI check of tapegrad's CUDA kernels. No GPU needed.
#
#   1. Regenerates every PTX module into a temporary directory with
#      generate.sh and fails if any differs from the committed .ptx (stale
#      PTX, or a non-deterministic build).
#   2. Assembles each module with ptxas -v for sm_80 (A100) and sm_90
#      (H100). The full ptxas output goes to $LOGDIR/ptxas-<module>-<sm>.log;
#      a summary (kernels, most registers, stack, spills) is printed. Fails
#      if a kernel of elementwise or of a half module spills; spills
#      elsewhere are reported.
#   3. go vet and go test of package kernels (names, ABI sizes, entries).
#   4. The simulator tests (kernels/internal/sim): the .cu sources compiled
#      for the host and run against the CPU backend. Skip with --no-sim.
#
# Usage: kernels/check.sh [--no-sim] [-v]
#   -v        print every kernel's registers, stack and spills
#   LOGDIR    where the ptxas logs go (default: a temporary directory that
#             is kept and printed)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$HERE/.." && pwd -P)
MODULES=(elementwise random reduce gemm nn scan index layernorm attention half_bf16 half_f16)
ARCHS=(sm_80 sm_90)

sim=yes verbose=no
for arg in "$@"; do
	case $arg in
	--no-sim) sim=no ;;
	-v) verbose=yes ;;
	*) echo "usage: kernels/check.sh [--no-sim] [-v]" >&2; exit 2 ;;
	esac
done

log() { printf 'check.sh: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT
LOGDIR=${LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-ptxas.XXXXXX")}
mkdir -p -- "$LOGDIR"

# 1. Fresh PTX equals the committed PTX.
"$HERE/generate.sh" "$TMP/ptx"
stale=()
for m in "${MODULES[@]}"; do
	[[ -f $HERE/$m.ptx ]] || fail "kernels/$m.ptx is missing: run go generate ./kernels"
	cmp -s "$HERE/$m.ptx" "$TMP/ptx/$m.ptx" || stale+=("$m")
done
if ((${#stale[@]})); then
	for m in "${stale[@]}"; do diff -u "$HERE/$m.ptx" "$TMP/ptx/$m.ptx" | head -20 >&2 || true; done
	fail "committed PTX differs from the sources for: ${stale[*]} (run go generate ./kernels)"
fi
log "ok   PTX up to date: $(cd "$HERE" && wc -c "${MODULES[@]/%/.ptx}" | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }') bytes"

# 2. ptxas for each architecture.
eval "$("$ROOT/scripts/cuda-toolchain.sh" env)"
# Turns ptxas -v output into "kernel registers stack spill_stores spill_loads".
summarize() {
	awk '
	/Compiling entry function/ { match($0, /\047[^\047]+\047/); name = substr($0, RSTART + 1, RLENGTH - 2) }
	/Function properties for/ { fn = $NF }
	/bytes spill stores/ { stack[fn] = $1; ss[fn] = $5; sl[fn] = $9 }
	/Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($i == "Used") regs[name] = $(i + 1) }
	END { for (k in regs) printf "%s %d %d %d %d\n", k, regs[k], stack[k], ss[k], sl[k] }
	' "$1" | sort -k2,2nr -k1,1
}
spilled=no
for m in "${MODULES[@]}"; do
	for sm in "${ARCHS[@]}"; do
		out=$LOGDIR/ptxas-$m-$sm.log
		"$PTXAS" -arch="$sm" -v -o "$TMP/$m.$sm.cubin" "$HERE/$m.ptx" 2>"$out" ||
			{ cat "$out" >&2; fail "ptxas -arch=$sm rejects $m.ptx"; }
		summarize "$out" >"$out.summary"
		read -r top regs _ < "$out.summary"
		n=$(wc -l <"$out.summary")
		spills=$(awk '$4 + $5 > 0' "$out.summary")
		stacks=$(awk '$3 > 0' "$out.summary" | wc -l)
		log "ok   ptxas -arch=$sm $m: $n kernels, at most $regs registers ($top), $stacks with a stack frame, $(printf '%s' "$spills" | grep -c . || true) spilling"
		if [[ $verbose == yes ]]; then
			printf '    %-40s %5s %6s %6s %6s\n' kernel regs stack spillS spillL
			awk '{ printf "    %-40s %5d %6d %6d %6d\n", $1, $2, $3, $4, $5 }' "$out.summary"
		fi
		if [[ -n $spills ]]; then
			printf '%s\n' "$spills" | awk '{ printf "    spills: %s (%d bytes stored, %d loaded)\n", $1, $4, $5 }' >&2
			[[ $m != elementwise && $m != half_* ]] || spilled=yes
		fi
	done
done
[[ $spilled == no ]] || fail "elementwise or half kernels spill registers (see above)"
log "     ptxas logs: $LOGDIR"

# 3. The Go package.
cd -- "$ROOT"
go vet ./kernels/...
go test -count=1 ./kernels
log "ok   go vet, go test ./kernels"

# 4. The simulator.
if [[ $sim == yes ]]; then
	id=$(cd "$HERE" && LC_ALL=C cat -- *.cu *.cuh *.h | sha256sum | cut -c1-16)
	CGO_CXXFLAGS="-O2 -g -DTG_SIM_SOURCES=$id" go vet -tags kernelsim ./kernels/internal/sim
	CGO_CXXFLAGS="-O2 -g -DTG_SIM_SOURCES=$id" go test -count=1 -tags kernelsim ./kernels/internal/sim
	log "ok   simulator tests (kernel sources $id)"
fi
log "all checks passed"
