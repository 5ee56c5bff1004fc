// Command charlm trains a GPT-style character language model on the
// fortunes corpus (package data's Fortunes: 2.5 MB of English, a
// vocabulary of 114 bytes, split 90/10 into training and validation text)
// with tapegrad, and reports the validation cross-entropy in nats per
// character.
//
// The model is a token embedding [V, E] plus a learned position embedding
// [T, E], then -layers pre-LayerNorm blocks
//
//	x = x + MultiHeadAttention(LN1(x))       (causal, -heads heads, with biases)
//	x = x + Dense(4E, E)(GELU(Dense(E, 4E)(LN2(x))))
//
// a final LayerNorm and a linear head Dense(E, V), not tied to the
// embedding. The defaults (4 layers, 4 heads, width 128, context 128) have
// 839,026 parameters. Weights are initialised GPT-2 style: every weight
// matrix and both embeddings from N(0, 0.02), biases 0, LayerNorm weights 1.
//
// Training: batches of -batch windows drawn at random positions of the
// training text (data.CharBatches, a function of the seed and the step, so
// a resumed run sees the batches it would have seen), cross-entropy over
// all B·T positions, AdamW (β = 0.9, 0.95, ε = 1e-8) with decoupled weight
// decay -wd on the rank-2 parameters only (embeddings and weight matrices;
// not biases or LayerNorm weights, as nanoGPT), the learning rate rising
// linearly over -warmup steps to -lr and falling along a cosine to 0 at
// -steps (optim.CosineWithWarmup), gradients clipped to global norm -clip.
//
// Every -eval-every steps it prints the validation loss over the first
// -eval-windows windows of the validation split (data.EvalBatches), and at
// the end the loss over -val-windows windows (by default all 1,936 windows
// of 128 characters: 247,808 predictions), then, with -sample N, N
// characters generated after a fixed prompt. The last line of the output is
//
//	final: step N val_loss X
//
// with X in nats per character. -time stops training early (checked after
// every step; the periodic evaluations count, the final one does not) and
// still prints it.
//
//	bash scripts/fortunes.sh             # fetch the corpus (2.5 MB) once
//	go run ./examples/charlm
//	go run ./examples/charlm -time 10m -plot charlm.png -sample 300
//
// -ckpt saves the model, the AdamW state and the step at every evaluation
// and at the end (atomically, package checkpoint); -resume continues from
// it bit for bit: -stop K ends a run after step K as an interruption would,
// and a second run with -resume finishes it with the same parameters as a
// run without the break. -init-npy DIR writes what reference.py needs to
// train the same model in PyTorch from the same initial weights on the
// same batches (see its docstring).
//
// -amp bf16 trains with the forward pass under bfloat16 autocast (package
// amp: matrix products and attention in bfloat16, softmax, LayerNorm and
// the loss in float32, parameters, gradients and AdamW state in float32);
// -amp f16 under float16 autocast with dynamic loss scaling
// (amp.GradScaler: steps whose gradients overflow are skipped). The
// evaluations and the sample run under the same autocast. On the CPU this
// reproduces mixed-precision numerics but is slower than float32 (the
// half types are converted per operation).
//
// With -device cuda:0 (built with -tags cuda) it trains on a GPU; the CUDA
// index kernels behind the embedding have passed the kernel simulator but
// have not yet run on a card.
//
// With -dist it trains data-parallel as one rank of a job that cmd/tgrun
// (or torchrun) starts: rank 0's initial weights are broadcast, rank r
// takes windows r·B/N to (r+1)·B/N−1 of every step's -batch B (so N ranks
// see the windows of one process with batch B) and the gradients are
// averaged over the ranks as backward produces them (before clipping).
// Only rank 0 reports and writes files:
//
//	go run ./cmd/tgrun -nproc 2 ./examples/charlm -dist -steps 200
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/pprof"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/distributed"
)

func main() {
	cfg := config{Out: os.Stdout, Progress: os.Stderr, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
	dev := flag.String("device", "", "device to train on (default: TAPEGRAD_DEVICE, else a GPU if present, else cpu)")
	flag.IntVar(&cfg.Steps, "steps", 2000, "training steps (the cosine schedule ends at this step)")
	flag.IntVar(&cfg.Stop, "stop", 0, "stop after this step, as if interrupted (0: -steps); -resume continues")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of initialisation, batches and the sampler")
	flag.IntVar(&cfg.Layers, "layers", 4, "transformer blocks")
	flag.IntVar(&cfg.Heads, "heads", 4, "attention heads")
	flag.IntVar(&cfg.Width, "width", 128, "embedding width E")
	flag.IntVar(&cfg.Context, "context", 128, "context length T")
	flag.IntVar(&cfg.Batch, "batch", 32, "windows per step")
	flag.Float64Var(&cfg.LR, "lr", 3e-3, "peak learning rate")
	flag.IntVar(&cfg.Warmup, "warmup", 100, "warm-up steps (at most -steps)")
	flag.Float64Var(&cfg.Clip, "clip", 1, "clip gradients to this global norm (0: no clipping)")
	flag.StringVar(&cfg.AMP, "amp", "none", "mixed precision: none (float32), bf16 (bfloat16 autocast) or f16 (float16 autocast with loss scaling)")
	flag.Float64Var(&cfg.WD, "wd", 0.1, "AdamW weight decay of the embeddings and weight matrices")
	flag.IntVar(&cfg.EvalEvery, "eval-every", 100, "steps between validation losses (0: only at the end)")
	flag.IntVar(&cfg.EvalWindows, "eval-windows", 256, "windows of the periodic validation losses (0: all)")
	flag.IntVar(&cfg.ValWindows, "val-windows", 0, "windows of the final validation loss (0: the whole validation split)")
	flag.DurationVar(&cfg.Time, "time", 0, "stop training after this wall-clock time, e.g. 10m (0: no limit)")
	plotPath := flag.String("plot", "", "write the loss curves to this PNG file")
	flag.StringVar(&cfg.Ckpt, "ckpt", "", "checkpoint file, saved at every evaluation and at the end")
	flag.BoolVar(&cfg.Resume, "resume", false, "resume from -ckpt")
	flag.IntVar(&cfg.Sample, "sample", 0, "generate this many characters at the end")
	flag.StringVar(&cfg.InitNPY, "init-npy", "", "write the initial weights (.npy, PyTorch names), the tokens and the batches for reference.py into this directory")
	flag.StringVar(&cfg.LogLosses, "log-losses", "", "write every step's training loss to this file")
	flag.StringVar(&cfg.DataDir, "data", "", "directory of the fortunes corpus (default: see scripts/fortunes.sh)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	dist := flag.Bool("dist", false, "train data-parallel as one rank of a job started by cmd/tgrun or torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); -batch is the global batch; only rank 0 reports and writes files")
	flag.Parse()
	if *dist {
		g, err := distributed.InitFromEnv()
		if err != nil {
			fmt.Fprintln(os.Stderr, "charlm:", err)
			os.Exit(2)
		}
		defer g.Close()
		cfg.Group = g
		if g.Rank() != 0 {
			cfg.Out, cfg.Progress = io.Discard, nil
			// Checkpoints stay: every rank has the same state, and the
			// checkpoint package writes atomically.
			cfg.InitNPY, cfg.LogLosses, *plotPath, cfg.Sample = "", "", "", 0
		}
	}

	d, err := device.Select(*dev)
	if err != nil {
		fmt.Fprintln(os.Stderr, "charlm:", err)
		os.Exit(2)
	}
	if cfg.Group != nil && d.IsCUDA() {
		// One GPU per rank: NCCL refuses two ranks on one device.
		if d, err = device.Select(device.CUDA(cfg.Group.LocalRank()).String()); err != nil {
			fmt.Fprintln(os.Stderr, "charlm:", err)
			os.Exit(2)
		}
	}
	cfg.Device = d
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(os.Stderr, "charlm on %v: %d layers, %d heads, width %d, context %d, batch %d, %d steps, lr %g, seed %d\n",
		cfg.Device, cfg.Layers, cfg.Heads, cfg.Width, cfg.Context, cfg.Batch, cfg.Steps, cfg.LR, cfg.Seed)
	res, err := train(cfg)
	if errors.Is(err, data.ErrNotFound) {
		log.Fatalf("%v\n(run: bash scripts/fortunes.sh)", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	if cfg.Group != nil && cfg.Group.Rank() != 0 {
		return
	}
	if *plotPath != "" {
		if err := writePlot(*plotPath, res, cfg); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", *plotPath)
	}
	fmt.Printf("final: step %d val_loss %.4f\n", res.Steps, res.Final)
}
