#!/usr/bin/env bash
# The GPU checks in two halves, for a GPU machine without a Go toolchain
# (ours: the GPU machine has the NVIDIA driver, nvcc, compute-sanitizer and
# PyTorch, but no Go and no network).
#
#   bash scripts/gpu-check.sh build              # here: builds into .cache/gpu
#   bash scripts/gpu-check.sh run [STAGE...]     # there, at the repository root
#
# build compiles, with the cuda tag, the test binaries of the packages whose
# tests run on the GPU (gpu_pkgs below), the benchmark harness and the two
# examples, stripped, into .cache/gpu/gpu.tar.xz (about 24 MiB: xz, since
# with gzip the archive and the dataset passed the device tool's 64 MiB; .cache is
# ignored by git: carry .cache/gpu and .cache/fashion-mnist to the GPU
# machine). run executes the stages named (default: tests), each under its
# own time limit, and writes one log per step and a summary into $OUT (the
# device tool's output folder) or .cache/gpu/out:
#
#   tests      device/cuda's GPU tests (-test.v), then the other packages'
#              tests with -test.short on the default device (the GPU)
#   sanitizer  compute-sanitizer memcheck and racecheck on device/cuda's
#              short tests
#   examples   examples/autograd on cuda:0, one epoch of examples/fashion-mnist
#   bench      the harness on cuda:0 with the torch peer, JSON into the output
#              folder (render it here: go run ./bench -from-json cuda.json
#              -plot bench/results -results bench/RESULTS.md); BENCH_ARGS
#              adds flags, e.g. BENCH_ARGS=-torch-args=--no-compile
#   quick      the harness with -quick (about a minute)
#   first      the most valuable checks in one call of at most 9 minutes
#              (470 s of limits), for a task whose whole device time is 15
#              minutes: device/cuda's GPU tests (the backend conformance
#              suite among them), the walk-through on cuda:0, tensor's and
#              autograd's tests on the GPU, then the quick harness with the
#              torch peer. Use it first; the other stages are for what time
#              is left.
#
# A step that fails or runs out of time is recorded and the next one runs;
# the exit status is 1 if any step failed. Each stage's time limits add up to
# at most 540 s, so that one stage fits one call of the device tool (600 s;
# the logs are written as the steps end, so a cut-off call still returns
# them). The first process on a fresh
# machine JIT-compiles the PTX it uses (elementwise.ptx takes about 7 s for
# sm_90); the driver caches the result in ~/.nv/ComputeCache when it can.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=.cache/gpu

# The packages whose tests run on the GPU: device/cuda's own GPU tests, and
# those that run on the default device (the GPU in a cuda-tagged binary on a
# GPU machine). The rest of the suite does not touch a device and runs in CI.
# distributed: NCCL on one rank (it skips where libnccl.so.2 cannot be
# loaded; run() adds the NCCL that PyTorch's wheels bring to the library path).
gpu_pkgs=(device/cuda tensor tensor/multidevice autograd optim checkpoint examples/autograd distributed)

build() {
	set -e
	eval "$(bash scripts/cuda-toolchain.sh env)"
	export CGO_ENABLED=1
	rm -rf "$dir"
	mkdir -p "$dir/bin"
	# Stripped (-s -w) and packed: the device tool carries at most 64 MiB,
	# and .cache/fashion-mnist takes 30 of them.
	local ld=(-ldflags "-s -w")
	for rel in "${gpu_pkgs[@]}"; do
		go test -tags cuda -c "${ld[@]}" -o "$dir/bin/$(echo "$rel" | tr / _).test" "./$rel"
	done
	go build -tags cuda "${ld[@]}" -o "$dir/bin/bench-cuda" ./bench
	go build -tags cuda "${ld[@]}" -o "$dir/bin/example-autograd" ./examples/autograd
	go build -tags cuda "${ld[@]}" -o "$dir/bin/example-fashion-mnist" ./examples/fashion-mnist
	git rev-parse --short HEAD >"$dir/bin/commit"
	tar -C "$dir/bin" -cJf "$dir/gpu.tar.xz" .
	rm -rf "$dir/bin"
	# The device tool carries at most 64 MiB: the archive and the dataset
	# must fit together (CI runs this build, so it fails when they do not).
	local total
	total=$(du -scb "$dir" .cache/fashion-mnist 2>/dev/null | tail -1 | cut -f1)
	if [ "$total" -gt $((64 << 20)) ]; then
		echo "gpu-check build: .cache/gpu and .cache/fashion-mnist take $((total >> 20)) MiB, more than the 64 MiB the device tool carries" >&2
		return 1
	fi
	echo "built $(tar -tJf "$dir/gpu.tar.xz" | grep -vc '/$') files at $(git rev-parse --short HEAD) into $dir/gpu.tar.xz ($(du -h "$dir/gpu.tar.xz" | cut -f1)); carry .cache/gpu and .cache/fashion-mnist ($(du -sch "$dir" .cache/fashion-mnist 2>/dev/null | tail -1 | cut -f1) in all; the device tool carries 64 MiB)"
}

out=${OUT:-$root/$dir/out}
failed=0

# step NAME LIMIT DIR CMD...: runs CMD in DIR under a time limit in seconds,
# logging to $out/NAME.log and a line to $out/summary.txt.
step() {
	local name=$1 limit=$2 wd=$3
	shift 3
	local t0 rc
	t0=$(date +%s)
	(cd "$wd" && timeout --kill-after=10 "$limit" "$@") >"$out/$name.log" 2>&1
	rc=$?
	local verdict=ok
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		verdict="TIMEOUT after ${limit}s"
		failed=1
	elif [ $rc -ne 0 ]; then
		verdict="FAILED (exit $rc)"
		failed=1
	fi
	printf '%-40s %-22s %4ss\n' "$name" "$verdict" "$(($(date +%s) - t0))" | tee -a "$out/summary.txt"
}

run() {
	[ -f "$dir/gpu.tar.xz" ] || { echo "no $dir/gpu.tar.xz: run 'bash scripts/gpu-check.sh build' on a machine with Go first" >&2; exit 2; }
	local stages=("$@")
	[ ${#stages[@]} -gt 0 ] || stages=(tests)
	for stage in "${stages[@]}"; do
		case $stage in
		tests | sanitizer | examples | bench | quick | first) ;;
		*)
			echo "unknown stage $stage (tests, sanitizer, examples, bench, quick, first)" >&2
			exit 2
			;;
		esac
	done
	# Unpacked outside the repository, so that nothing large is left where
	# the device tool would carry it back.
	bin=$(mktemp -d "${TMPDIR:-/tmp}/tapegrad-gpu.XXXXXX")
	trap 'rm -rf "$bin"' EXIT
	mkdir -p "$out"
	tar -C "$bin" -xJf "$dir/gpu.tar.xz" || exit 2
	export TAPEGRAD_FASHION_MNIST=${TAPEGRAD_FASHION_MNIST:-$root/.cache/fashion-mnist}
	# libnccl.so.2 for distributed's NCCL test: the system's, else the one
	# in PyTorch's pip dependencies (nvidia-nccl-cu*), if any.
	if ! ldconfig -p 2>/dev/null | grep -q libnccl.so.2; then
		nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)
		[ -n "$nccl" ] && export LD_LIBRARY_PATH="$nccl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	fi
	{
		echo "tapegrad $(cat "$bin/commit"), $(date -u +%FT%TZ)"
		if command -v nvidia-smi >/dev/null; then
			nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
		else
			echo "no nvidia-smi on this machine"
		fi
	} | tee "$out/summary.txt"
	for stage in "${stages[@]}"; do
		case $stage in
		tests)
			step device_cuda 200 device/cuda "$bin/device_cuda.test" -test.v
			for t in "$bin"/*.test; do
				name=$(basename "$t" .test)
				[ "$name" = device_cuda ] && continue
				step "$name" 50 "$(echo "$name" | tr _ /)" "$t" -test.short
			done
			;;
		sanitizer)
			local cs
			cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
			step sanitizer_memcheck 240 device/cuda "$cs" --tool memcheck --error-exitcode 1 "$bin/device_cuda.test" -test.short
			step sanitizer_racecheck 240 device/cuda "$cs" --tool racecheck --error-exitcode 1 "$bin/device_cuda.test" -test.short
			;;
		examples)
			step example_autograd 60 . env TAPEGRAD_DEVICE=cuda:0 "$bin/example-autograd"
			step example_fashion_mnist 240 . env TAPEGRAD_DEVICE=cuda:0 "$bin/example-fashion-mnist" -epochs 1
			;;
		bench)
			# BENCH_ARGS: more flags, split on spaces.
			# shellcheck disable=SC2086
			step bench 540 . "$bin/bench-cuda" -device cuda:0 -json "$out/cuda.json" ${BENCH_ARGS:-}
			;;
		quick)
			step bench_quick 120 . "$bin/bench-cuda" -device cuda:0 -quick -json "$out/cuda-quick.json"
			;;
		first)
			step device_cuda 150 device/cuda "$bin/device_cuda.test" -test.v
			step example_autograd 40 . env TAPEGRAD_DEVICE=cuda:0 "$bin/example-autograd"
			step tensor 60 tensor "$bin/tensor.test" -test.short
			step autograd 60 autograd "$bin/autograd.test" -test.short
			step bench_quick 160 . "$bin/bench-cuda" -device cuda:0 -quick -peers torch -json "$out/cuda-quick.json"
			;;
		esac
	done
	echo "logs in $out"
	return $failed
}

case ${1:-} in
build) build ;;
run)
	shift
	run "$@"
	;;
*)
	echo "usage: $0 build | run [first|tests|sanitizer|examples|bench|quick ...]" >&2
	exit 2
	;;
esac
