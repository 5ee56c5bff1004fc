// Package sim runs the sources of tapegrad's CUDA kernels (package
// kernels) on the host, for tests on machines without a GPU.
//
// It compiles the .cu files with the host C++ compiler against shim.h, a
// small emulation of CUDA C++: one host thread per CUDA thread, blocks one
// after another, std::barrier for __syncthreads and warp shuffles. The
// kernels' index arithmetic, variants, chunking, reduction trees, tiling
// and generator bits are the real code, and so is the recording of bad
// labels and indices in the device-side error record (with the host's
// atomics); the math library is the host's (glibc), so transcendental
// results can differ from CUDA's in the last bits.
//
// Everything is behind the build tag kernelsim (the package is empty
// without it). The C++ files include the kernel sources from ../..,
// which Go's build cache does not track, so the build is keyed to them by
// hand: CGO_CXXFLAGS carries their hash, and the tests refuse to run when
// it is not the hash of the sources on disk. From the repository root:
//
//	h=$(cd kernels && cat *.cu *.cuh *.h | sha256sum | cut -c1-16)
//	CGO_CXXFLAGS="-O2 -g -DTG_SIM_SOURCES=$h" go test -tags kernelsim ./kernels/internal/sim
//
// kernels/check.sh does this. Building the simulator takes about 10 s, the
// tests about 40 s on two cores.
package sim
