#!/usr/bin/env bash
# kernels/generate.sh: compile each module's .cu to the committed .ptx.
#
# Usage: kernels/generate.sh [OUTDIR]      (default: kernels/ itself)
#        go generate ./kernels             (runs this script)
#
# The toolchain comes from scripts/cuda-toolchain.sh (CUDA 11.8 nvcc,
# downloaded into .cache/cuda on first use). The flags are pinned here, not
# taken from the environment, so that the PTX depends only on the sources
# and the toolchain version; the same inputs give the same bytes.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
OUT=${1:-$HERE}
mkdir -p -- "$OUT"
OUT=$(cd -- "$OUT" && pwd -P)

# One PTX module per op family: <name>.cu -> <name>.ptx.
MODULES=(elementwise random reduce gemm nn scan index layernorm attention half_bf16 half_f16)

# -ptx -arch=compute_80  PTX (ISA 7.8) for the driver to JIT; Ampere and newer
# --std=c++17 -O3        as scripts/cuda-toolchain.sh pins them
# --fmad=false           never contract a*b+c into an FMA: results round
#                        each step as the CPU backend does, and the RNG's
#                        float conversions stay exact
# No --use_fast_math: accurate expf/logf/..., IEEE division and sqrt,
# denormals kept.
FLAGS=(-ptx -arch=compute_80 --std=c++17 -O3 --fmad=false)

eval "$("$HERE/../scripts/cuda-toolchain.sh" env)"
"$NVCC" --version | grep -q 'release 11\.8, V11\.8\.89' ||
	{ echo "generate.sh: expected nvcc 11.8.89 (scripts/cuda-toolchain.sh)" >&2; exit 1; }

# Compile in parallel, each into a temporary file renamed on success. The
# working directory and the include path are fixed so that nothing about
# the caller leaks into the output.
cd -- "$HERE"
pids=()
for m in "${MODULES[@]}"; do
	"$NVCC" "${FLAGS[@]}" -o "$OUT/$m.ptx.tmp" "$m.cu" &
	pids+=($!)
done
rc=0
for i in "${!MODULES[@]}"; do
	if wait "${pids[$i]}"; then
		mv -f -- "$OUT/${MODULES[$i]}.ptx.tmp" "$OUT/${MODULES[$i]}.ptx"
	else
		echo "generate.sh: nvcc failed on ${MODULES[$i]}.cu" >&2
		rm -f -- "$OUT/${MODULES[$i]}.ptx.tmp"
		rc=1
	fi
done
exit $rc
