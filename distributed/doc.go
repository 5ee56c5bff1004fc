// Package distributed runs data-parallel training over several processes
// on collective engines that production jobs already use: Gloo for CPU
// tensors and NCCL for CUDA tensors. It provides a process group (rank and
// world size from torchrun's environment variables), the collectives
// AllReduce (sum, average), Broadcast, AllGather, ReduceScatter and
// Barrier on tensors of either device, typed errors with timeouts, and
// DataParallel, which wraps a model so that its gradients are averaged
// over the ranks while backward runs.
//
//	g, err := distributed.InitFromEnv() // RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer g.Close()
//	x := tensor.Ones([]int{1024})
//	if err := g.AllReduce(x, distributed.Average); err != nil {
//		log.Fatal(err) // *distributed.Error: errors.Is(err, distributed.ErrTimeout), ErrPeer, ...
//	}
//
// Start the processes with cmd/tgrun (go run ./cmd/tgrun -nproc 4 ./prog),
// which sets the variables as torchrun does, or with torchrun itself.
//
// # Engines and build tags
//
// CPU tensors go through Gloo (Debian's libgloo-dev, the library PyTorch's
// CPU process groups use), bound with cgo and a small C++ shim, behind the
// build tag gloo, so that the default build stays pure Go:
//
//	apt-get install libgloo-dev
//	go test -tags gloo ./distributed
//
// Without the tag the package still builds; Init succeeds and collectives
// on CPU tensors return ErrNoEngine ([HaveGloo] is false).
//
// Why Gloo rather than MPI for CPU tensors: the requirement that a dead
// peer make the others fail with a typed error within a stated time. Gloo
// gives every operation a timeout and reports both a timeout and a peer's
// closed socket as C++ exceptions, which the shim turns into ErrTimeout and
// ErrPeer; the process survives and can report, checkpoint or exit.
// With Open MPI a failed rank normally makes mpirun kill the whole job
// (MPI_ERRORS_ARE_FATAL; the ULFM extensions that would return errors are
// not in Debian's Open MPI 4.1), and MPI calls have no timeouts. Gloo also
// needs no launcher of its own: any way of starting N processes with the
// five environment variables works.
//
// A process whose group uses Gloo ignores SIGPIPE (Gloo's threads write to
// sockets without MSG_NOSIGNAL, and a write to a dead peer would otherwise
// kill the process rather than fail with ErrPeer); writes to a closed pipe
// then fail with EPIPE instead of ending the program.
//
// CUDA tensors go through NCCL, loaded at run time with dlopen
// (libnccl.so.2) in the cuda-tagged build, as device/cuda loads cuBLAS, and
// run on the tensors' own streams; the unique id is exchanged through the
// rendezvous store.
//
// # Rendezvous
//
// Rank 0 serves a small key-value store over TCP at MASTER_ADDR:MASTER_PORT
// (torchrun's TCPStore in spirit, written in Go); every rank connects to it
// and Gloo's full-mesh connection goes through it: the C++ side sees it as
// a gloo::rendezvous::Store whose set and get call back into Go. Each
// rank's Gloo device listens on the address from which it reaches the
// store (loopback on one machine). The store is used only to connect and
// close, never on the path of a collective.
//
// # Errors and timeouts
//
// Every failure is an [*Error] naming the operation, the rank, the world
// size and the tensor's shape, dtype and device, and wrapping a kind
// (errors.Is): ErrTimeout when an operation did not complete within the
// group's timeout (Options.Timeout, TAPEGRAD_DIST_TIMEOUT, default
// [DefaultTimeout]), ErrPeer when a peer's connection broke, ErrNoEngine,
// ErrEnv, ErrArgument. The stated bound: when a rank dies, every other
// rank's pending or next collective fails within the timeout of the moment
// it started waiting for the dead rank (ranks directly connected to it in
// the ring fail as soon as the kernel reports the closed socket, usually at
// once); no rank hangs. After a failure the group is aborted: later
// collectives return ErrAborted wrapping the first failure. A failed
// collective's tensors have undefined contents, and the memory stays pinned
// and referenced for the life of the process, since the engine's threads
// may still write into it.
package distributed
