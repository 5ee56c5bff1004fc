// Package distributed runs data-parallel training over several processes
// on collective engines that production jobs already use: Gloo for CPU
// tensors and NCCL for CUDA tensors. It provides a process group (rank and
// world size from torchrun's environment variables), the collectives
// AllReduce (sum, average), Broadcast, AllGather, ReduceScatter and
// Barrier on tensors of either device, subgroups of ranks
// ([ProcessGroup.NewGroup]), typed errors with timeouts, and DataParallel,
// which wraps a model so that its gradients are averaged over the ranks
// while backward runs (with gradient accumulation, [DataParallel.NoSync],
// and rank 0's buffers broadcast at every step).
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
//
// # Data parallelism
//
// [DataParallel] follows PyTorch's DDP: replicas broadcast from rank 0,
// gradients bucketed (DefaultBucketBytes, 25 MB, in reverse parameter
// order) and all-reduced from gradient hooks as backward produces them,
// buckets launched in a fixed order whatever order the hooks fire in, and
// [DataParallel.Sync] before the optimiser step. The collectives run one at
// a time on the group's goroutine, so a bucket's all-reduce overlaps the
// backward computation that follows it on the calling goroutine. The
// average is the engine's sum divided by the world size on every rank,
// and the engines hand every rank the same bits (Gloo's ring and NCCL
// both finish with an all-gather of the reduced chunks), so the ranks'
// parameters stay bitwise identical step after step. [data.Shard] and
// [data.DistributedSampler] give each rank its part of the same seeded
// order, such that N ranks with batch b see the examples of one process
// with batch N·b: the tests train an MLP for 200 steps on 2 and 4 ranks and
// compare with one process (1e-15 relative in float64, 4e-7 in float32;
// only the order of the additions differs).
//
// Gradient accumulation: the backward passes inside [DataParallel.NoSync]
// (PyTorch's no_sync) add their gradients to the rank's sum in the
// buckets and launch nothing; the next backward pass outside it adds its
// own and launches the buckets as usual, so a step of k micro-batches
// costs one all-reduce of each bucket. The tests check on 2 and 4 ranks
// that k micro-batches per rank, k−1 of them inside NoSync, give the
// parameters of one process's step on the concatenated batch (bit for bit
// with exact arithmetic, about 2e-16 relative after 60 steps of an MLP)
// and that no collective is submitted inside NoSync.
//
// Buffers (BatchNorm's running statistics, [nn.NamedBuffers]) are
// broadcast from rank 0 by NewDataParallel and again at every
// [DataParallel.Sync], in one broadcast per device and dtype of a flat
// copy, queued behind the gradient buckets (PyTorch's default
// broadcast_buffers=True, which broadcasts them before each forward pass
// instead: the forward passes see the same values);
// DataParallelOptions.LocalBuffers leaves them to each rank, and
// [DataParallel.SyncBuffers] broadcasts them on demand.
//
// # Subgroups
//
// [ProcessGroup.NewGroup] (torch.distributed.new_group) makes a group of
// some of the ranks: every rank calls it with the same ranks, the members
// get a group with ranks and world size of its own and connect a new
// Gloo context among themselves through the same store under a prefix
// of their own (in the cuda build, a NCCL communicator on a new unique
// id), and the others get a group whose collectives fail with
// ErrNotMember. Each group has its own goroutine, so collectives of
// disjoint groups, and of a group and its parent, run concurrently; the
// tests run {0,1} and {2,3} at once beside the whole group, and {0,2}.
//
// # Scaling to thousands of GPUs: the design, and the room the API leaves
//
// What is here is the data-parallel core (full replicas, flat buckets,
// gradient accumulation) and process groups of subsets of the ranks. The
// API is shaped so that the rest below can be added without changing it;
// what is not marked as done is not implemented yet.
//
// Process groups of subsets (done: [ProcessGroup.NewGroup]). Tensor- and
// pipeline-parallel training needs collectives among a subset of ranks
// (the 8 GPUs of a node for tensor parallelism, the same position in
// every node for data parallelism): NewGroup makes a Gloo context (and,
// on first use, a NCCL communicator) over the subset, its keys in the
// same store under the parent's prefix plus a count and the subset, with
// Rank and WorldSize relative to the subset. Every method of
// ProcessGroup works on such a group, and DataParallel takes the group to
// average over, so it runs over the data-parallel subgroup while a
// tensor-parallel layer all-reduces its activations over another, and a
// ZeRO shard group (below) is one more subgroup. What a 2-D or 3-D layout
// still lacks is a helper that makes the grid of groups (every rank
// calling NewGroup for every row and column, as PyTorch's DeviceMesh
// does) and tensor-parallel layers. At thousands of ranks, NCCL's
// ncclCommSplit would make the subcommunicators without a rendezvous
// through the store per group (here each subgroup's rank 0 publishes a
// new unique id); and since every rank must call NewGroup for every
// group, as in PyTorch, making N groups costs each rank N calls, most of
// them returning at once.
//
// Sharded optimiser state and parameters (ZeRO, FSDP). [ShardSizes] and
// [ProcessGroup.ReduceScatter] are the primitives: ZeRO-1/2 replaces a
// bucket's all-reduce by a reduce-scatter (each rank keeps the averaged
// gradient of its 1/N shard of the flat bucket), steps the optimiser on
// that shard only (its Adam moments are 1/N of the full state), and
// all-gathers the updated parameters ([ProcessGroup.AllGather] over the
// same flat layout); the bucket layout DataParallel already builds (flat,
// per device and dtype, fixed order) is the shard layout. ZeRO-3/FSDP also
// frees the parameters between uses: an all-gather before each layer's
// forward and backward, prefetched one layer ahead on the group's
// goroutine as the buckets are now, and a reduce-scatter after each
// layer's backward from the same gradient hooks. This is the path to
// models whose optimiser state does not fit one GPU; it needs optim to
// step a flat shard (the fused SGDSteps/AdamSteps already take slices of
// tensors), and a checkpoint format that writes each rank's shard
// (package checkpoint writes named tensors; a shard is one more name
// suffix, and the flat layout is recorded in the metadata).
//
// Fault tolerance. At thousands of GPUs a failure is expected every few
// hours, so recovery is restart from a checkpoint, not survival within a
// step: a dead peer makes every rank's collective fail with a typed error
// within the timeout (done here, tested with a rank killed mid-step and
// one stopped), the group aborts (ErrAborted), the ranks exit, and the
// launcher restarts the job — all ranks, possibly on a replaced machine —
// which resumes from the last checkpoint (package checkpoint's atomic
// files; examples/charlm resumes bit for bit). What is missing for that:
// a launcher that restarts (tgrun runs one attempt; torchrun's elastic
// agent restarts up to --max-restarts and works with these processes as
// they are), a checkpoint every K steps written by the ranks that own
// each shard, and a restart epoch in the store's key prefix so that a
// restarted job does not read the failed attempt's keys. Elastic resizing
// (continuing on fewer ranks) follows from the sharded checkpoint: the
// flat layout is re-split by ShardSizes for the new world size. Straggler
// and hang detection need nothing more than the timeouts: a hung NCCL
// kernel is aborted by the watchdog loop in the NCCL engine, as PyTorch's
// watchdog does.
//
// Larger scale also wants a rendezvous that is not a single rank's TCP
// server (etcd, or torchrun's c10d store, which tgrun's environment
// variables are compatible with; only Store would change), a hierarchical
// all-reduce (NCCL does it within and across nodes by itself; Gloo's ring
// over thousands of CPU ranks would not be used at that scale), and
// gradient compression or overlapping the optimiser step with the last
// buckets, both local changes to DataParallel.
package distributed
