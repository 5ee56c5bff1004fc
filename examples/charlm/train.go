package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tapegrad/tapegrad/amp"
	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/distributed"
	"github.com/tapegrad/tapegrad/examples/charlm/gpt"
	"github.com/tapegrad/tapegrad/internal/progress"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// config is what one training run needs.
type config struct {
	Layers, Heads, Width, Context int
	Batch                         int     // windows per step
	Steps                         int     // length of the schedule: warm-up, then cosine decay to 0 at Steps
	Stop                          int     // stop after this step (0: Steps), as an interruption would
	Seed                          uint64  // initialisation, batches and the sampler
	LR                            float64 // peak learning rate
	Beta1, Beta2, Eps             float64 // AdamW's
	WD                            float64 // decoupled weight decay of the rank-2 parameters
	Warmup                        int     // steps of linear warm-up
	Clip                          float64 // global gradient-norm limit (0: none)
	AMP                           string  // mixed precision: "none" or "" (float32), "bf16", "f16" (with loss scaling)
	EvalEvery                     int     // steps between validation losses (0: only the final one)
	EvalWindows                   int     // windows of the periodic validation losses (0: all)
	ValWindows                    int     // windows of the final validation loss (0: the whole split)
	Time                          time.Duration
	Device                        device.Device
	Ckpt                          string // checkpoint path ("" none)
	Resume                        bool   // resume from Ckpt
	Sample                        int    // characters to generate at the end
	InitNPY                       string // directory for the initial weights and the reference's inputs
	LogLosses                     string // file of per-step training losses
	DataDir                       string // "" finds the corpus
	Out                           io.Writer
	Progress                      io.Writer // progress bars (nil: none)
	// Group, if not nil, makes the run one rank of a data-parallel job:
	// each rank takes its Batch/WorldSize windows of every step's Batch.
	Group *distributed.ProcessGroup
}

// samplePrompt starts every generated sample; samples use temperature
// sampleTemp.
const (
	samplePrompt = "%\nThe "
	sampleTemp   = 0.8
)

// evalPoint is a validation loss after Step steps.
type evalPoint struct {
	Step int
	Loss float64
}

// result is what a run measured.
type result struct {
	Model     *gpt.Model
	Start     int       // the step the run started from (after -resume)
	Steps     int       // steps done in all, Start included
	Losses    []float64 // training loss of steps Start+1 … Steps
	Evals     []evalPoint
	Final     float64 // the final validation loss
	TrainTime time.Duration
	Tokens    int // training tokens processed by this run
	Sample    string
}

// fingerprint is what a checkpoint must agree with to resume a run. The
// mixed-precision mode is part of it unless it is none (so that
// checkpoints of float32 runs made before -amp still resume).
func (c config) fingerprint(vocab int) string {
	f := fmt.Sprintf("vocab=%d layers=%d heads=%d width=%d context=%d batch=%d steps=%d seed=%d lr=%g betas=%g,%g eps=%g wd=%g warmup=%d clip=%g",
		vocab, c.Layers, c.Heads, c.Width, c.Context, c.Batch, c.Steps, c.Seed, c.LR, c.Beta1, c.Beta2, c.Eps, c.WD, c.Warmup, c.Clip)
	if c.AMP != "" && c.AMP != "none" {
		f += " amp=" + c.AMP
	}
	return f
}

// ampMode parses -amp: whether to autocast, to which dtype, and whether
// to scale the loss (float16).
func ampMode(s string) (dt tensor.DType, autocast, scale bool, err error) {
	switch s {
	case "", "none":
		return tensor.Float32, false, false, nil
	case "bf16":
		return tensor.BFloat16, true, false, nil
	case "f16":
		return tensor.Float16, true, true, nil
	}
	return tensor.Float32, false, false, fmt.Errorf("-amp %q: want none, bf16 or f16", s)
}

// trainer holds a run's state.
type trainer struct {
	cfg          config
	corpus       *data.Corpus
	model        *gpt.Model
	params       []*tensor.Tensor
	decay, plain *optim.Adam
	opts         []*optim.Scheduled
	sampler      *data.CharSampler
	dp           *distributed.DataParallel // nil unless data-parallel
	half         tensor.DType              // the autocast dtype, if autocast
	autocast     bool                      // -amp bf16 or f16
	scaler       *amp.GradScaler           // -amp f16's loss scaling, else nil
	skipped      int                       // steps the scaler skipped in this run
}

// forward runs fn (a forward pass) under the run's autocast, if any.
func (tr *trainer) forward(fn func()) {
	if tr.autocast {
		amp.Autocast(tr.half, fn)
		return
	}
	fn()
}

func newTrainer(cfg config) (*trainer, error) {
	if cfg.Steps < 1 || cfg.Batch < 1 || cfg.Context < 1 || cfg.Layers < 0 || cfg.Width < 1 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("bad sizes: steps %d, batch %d, context %d, layers %d, width %d, warmup %d",
			cfg.Steps, cfg.Batch, cfg.Context, cfg.Layers, cfg.Width, cfg.Warmup)
	}
	if cfg.Heads < 1 || cfg.Width%cfg.Heads != 0 {
		return nil, fmt.Errorf("%d heads do not divide width %d", cfg.Heads, cfg.Width)
	}
	half, autocast, scale, err := ampMode(cfg.AMP)
	if err != nil {
		return nil, err
	}
	corpus, err := data.Fortunes(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	tensor.Seed(cfg.Seed)
	m := gpt.New(gpt.Shape{Vocab: corpus.Vocab.Size(), Layers: cfg.Layers, Heads: cfg.Heads, Width: cfg.Width, Context: cfg.Context}, cfg.Device)
	tr := &trainer{cfg: cfg, corpus: corpus, model: m, params: m.Params(),
		sampler: data.CharBatches(corpus.Train, cfg.Batch, cfg.Context, cfg.Seed), half: half, autocast: autocast}
	if scale {
		tr.scaler = amp.NewGradScaler()
	}
	adamW := func(named []nn.NamedTensor, wd float64) *optim.Adam {
		ps, names := gpt.Split(named)
		a := optim.NewAdam(ps, cfg.LR).WithNames(names...)
		a.Beta1, a.Beta2, a.Eps, a.WeightDecay, a.Decoupled = cfg.Beta1, cfg.Beta2, cfg.Eps, wd, true
		return a
	}
	decay, plain := m.DecayGroups()
	tr.decay, tr.plain = adamW(decay, cfg.WD), adamW(plain, 0)
	sched := optim.CosineWithWarmup{Base: cfg.LR, Warmup: cfg.Warmup, Total: cfg.Steps}
	tr.opts = []*optim.Scheduled{optim.WithSchedule(tr.decay, sched), optim.WithSchedule(tr.plain, sched)}
	if g := cfg.Group; g != nil {
		if cfg.Batch%g.WorldSize() != 0 {
			return nil, fmt.Errorf("the batch %d is not a multiple of the %d ranks", cfg.Batch, g.WorldSize())
		}
		if tr.dp, err = distributed.NewDataParallel(g, m, distributed.DataParallelOptions{}); err != nil {
			return nil, err
		}
	}
	return tr, nil
}

// batch returns the inputs [B, T] and targets [B·T] of step; data-parallel,
// rank r's B/ranks windows r·B/ranks, ... of the step's B.
func (tr *trainer) batch(step int) (x, y *tensor.Tensor) {
	xs, ys := tr.sampler.Batch(step)
	b, t := tr.cfg.Batch, tr.cfg.Context
	if g := tr.cfg.Group; g != nil {
		b /= g.WorldSize()
		xs, ys = xs[g.Rank()*b*t:(g.Rank()+1)*b*t], ys[g.Rank()*b*t:(g.Rank()+1)*b*t]
	}
	on := tensor.On(tr.cfg.Device)
	return tensor.FromSlice(xs, []int{b, t}, on), tensor.FromSlice(ys, []int{len(ys)}, on)
}

// step trains on the batch of step (0-based) and returns its loss (this
// rank's, data-parallel). Under -amp the forward pass runs in autocast;
// with the loss scaler (f16) the gradients are unscaled before clipping
// (after the data-parallel average), and a step whose gradients hold Inf
// or NaN is skipped (the scaler then halves its scale).
func (tr *trainer) step(step int) (float64, error) {
	x, y := tr.batch(step)
	v := tr.model.Shape.Vocab
	var loss, head *tensor.Tensor
	autograd.Record(func() {
		tr.forward(func() { loss = nn.CrossEntropy(tr.model.Forward(x).Reshape(-1, v), y) })
		head = loss
		if tr.scaler != nil {
			head = tr.scaler.Scale(loss)
		}
	})
	head.Backward()
	if tr.dp != nil {
		if err := tr.dp.Sync(); err != nil {
			return 0, err
		}
	}
	if tr.scaler != nil {
		for _, o := range tr.opts {
			tr.scaler.Unscale(o)
		}
	}
	if tr.cfg.Clip > 0 {
		optim.ClipGradNorm(tr.params, tr.cfg.Clip)
	}
	skipped := false
	for _, o := range tr.opts {
		if tr.scaler != nil {
			skipped = !tr.scaler.Step(o) || skipped
		} else {
			o.Step()
		}
	}
	if tr.scaler != nil {
		tr.scaler.Update()
	}
	if skipped {
		tr.skipped++
	}
	return loss.Item(), nil
}

// evaluate returns the mean cross-entropy, in nats per character, of the
// model's predictions of the first windows windows of data.EvalBatches
// over the validation split (all of them for windows 0).
func (tr *trainer) evaluate(windows int) float64 {
	val, t := tr.corpus.Val, tr.cfg.Context
	if windows > 0 && windows*t+1 < len(val) {
		val = val[:windows*t+1]
	}
	on := tensor.On(tr.cfg.Device)
	v := tr.model.Shape.Vocab
	sum, n := 0.0, 0
	for x, y := range data.EvalBatches(val, tr.cfg.Batch, t) {
		b := len(x) / t
		tr.forward(func() {
			logits := tr.model.Forward(tensor.FromSlice(x, []int{b, t}, on)).Reshape(-1, v)
			sum += tensor.SoftmaxCrossEntropy(logits, tensor.FromSlice(y, []int{len(y)}, on)).Sum().Item()
		})
		n += len(y)
	}
	return sum / float64(n)
}

// save writes the model, both AdamW states and the step to the checkpoint.
func (tr *trainer) save(step int) error {
	ck := &checkpoint.Checkpoint{Metadata: map[string]string{
		"step": strconv.Itoa(step), "config": tr.cfg.fingerprint(tr.model.Shape.Vocab),
	}}
	ck.Put("model", nn.StateDict(tr.model))
	ck.Put("adamw.decay", tr.decay.State())
	ck.Put("adamw.nodecay", tr.plain.State())
	if tr.scaler != nil {
		ck.Put("grad_scaler", tr.scaler.State())
	}
	return checkpoint.Save(tr.cfg.Ckpt, ck)
}

// restore loads the checkpoint and returns the step it was saved after.
func (tr *trainer) restore() (int, error) {
	dst := map[string]*tensor.Tensor{}
	for name, t := range nn.StateDict(tr.model) {
		dst["model/"+name] = t
	}
	ck, err := checkpoint.LoadInto(tr.cfg.Ckpt, dst)
	if err != nil {
		return 0, err
	}
	if got, want := ck.Metadata["config"], tr.cfg.fingerprint(tr.model.Shape.Vocab); got != want {
		return 0, fmt.Errorf("%s was saved by another configuration:\n  saved: %s\n  now:   %s", tr.cfg.Ckpt, got, want)
	}
	step, err := strconv.Atoi(ck.Metadata["step"])
	if err != nil {
		return 0, fmt.Errorf("%s: bad step %q", tr.cfg.Ckpt, ck.Metadata["step"])
	}
	if err := tr.decay.Restore(ck.Prefixed("adamw.decay")); err != nil {
		return 0, err
	}
	if err := tr.plain.Restore(ck.Prefixed("adamw.nodecay")); err != nil {
		return 0, err
	}
	if tr.scaler != nil {
		if err := tr.scaler.Restore(ck.Prefixed("grad_scaler")); err != nil {
			return 0, err
		}
	}
	// With loss scaling, skipped steps leave the optimisers behind.
	if bad := func(n int) bool { return n > step || tr.scaler == nil && n != step }; bad(tr.decay.Steps()) || bad(tr.plain.Steps()) {
		return 0, fmt.Errorf("%s: step %d, but the optimisers have taken %d and %d", tr.cfg.Ckpt, step, tr.decay.Steps(), tr.plain.Steps())
	}
	return step, nil
}

// referenceConfig is the config.json that -init-npy writes for reference.py.
type referenceConfig struct {
	Vocab       int        `json:"vocab"`
	Layers      int        `json:"layers"`
	Heads       int        `json:"heads"`
	Width       int        `json:"width"`
	Context     int        `json:"context"`
	Batch       int        `json:"batch"`
	Steps       int        `json:"steps"`
	Stop        int        `json:"stop"`
	Seed        uint64     `json:"seed"`
	LR          float64    `json:"lr"`
	Beta1       float64    `json:"beta1"`
	Beta2       float64    `json:"beta2"`
	Eps         float64    `json:"eps"`
	WD          float64    `json:"wd"`
	Warmup      int        `json:"warmup"`
	Clip        float64    `json:"clip"`
	EvalEvery   int        `json:"eval_every"`
	EvalWindows int        `json:"eval_windows"`
	ValWindows  int        `json:"val_windows"`
	TrainLen    int        `json:"train_len"`
	TimeSeconds float64    `json:"time_s"`
	Params      []refParam `json:"params"`
}

// refParam is a parameter in config.json: its PyTorch name and shape, and
// whether AdamW decays it.
type refParam struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Decay bool   `json:"decay"`
}

// writeReference writes the initial weights (writeNPY), config.json, the
// corpus's tokens (tokens.npy, float32: the ids are exact) and the window
// start positions of every step (starts.npy, float64 [steps, batch]), so
// that reference.py trains the same model on the same batches.
func (tr *trainer) writeReference(dir string) error {
	if err := writeNPY(dir, tr.model); err != nil {
		return err
	}
	c := tr.cfg
	rc := referenceConfig{Vocab: tr.model.Shape.Vocab, Layers: c.Layers, Heads: c.Heads, Width: c.Width, Context: c.Context,
		Batch: c.Batch, Steps: c.Steps, Stop: c.Stop, Seed: c.Seed, LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps,
		WD: c.WD, Warmup: c.Warmup, Clip: c.Clip, EvalEvery: c.EvalEvery, EvalWindows: c.EvalWindows,
		ValWindows: c.ValWindows, TrainLen: len(tr.corpus.Train), TimeSeconds: c.Time.Seconds()}
	for _, p := range nn.NamedParameters(tr.model) {
		sh := p.Tensor.Shape()
		if torchLinear(p.Name, p.Tensor) {
			sh[0], sh[1] = sh[1], sh[0]
		}
		rc.Params = append(rc.Params, refParam{p.Name, sh, p.Tensor.Rank() >= 2})
	}
	js, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	toks := make([]float32, len(tr.corpus.Tokens))
	for i, t := range tr.corpus.Tokens {
		toks[i] = float32(t)
	}
	onCPU := tensor.On(device.CPU())
	if err := npy.Save(filepath.Join(dir, "tokens.npy"), tensor.FromSlice(toks, []int{len(toks)}, onCPU)); err != nil {
		return err
	}
	starts := make([]float64, 0, c.Steps*c.Batch)
	for s := range c.Steps {
		for _, p := range tr.sampler.Starts(s) {
			starts = append(starts, float64(p))
		}
	}
	return npy.Save(filepath.Join(dir, "starts.npy"), tensor.FromSlice(starts, []int{c.Steps, c.Batch}, onCPU))
}

// sample generates n characters after samplePrompt, drawing each from the
// model's distribution at temperature sampleTemp with a PCG seeded by seed.
func (tr *trainer) sample(n int, seed uint64) string {
	ids, err := tr.corpus.Vocab.Encode([]byte(samplePrompt))
	if err != nil {
		return ""
	}
	rng := rand.New(rand.NewPCG(seed, 0x636861726c6d)) // "charlm"
	t := tr.cfg.Context
	on := tensor.On(tr.cfg.Device)
	probs := make([]float64, tr.model.Shape.Vocab)
	for range n {
		ctx := ids[max(0, len(ids)-t):]
		var logits []float64
		tr.forward(func() {
			logits = tr.model.Forward(tensor.FromSlice(ctx, []int{1, len(ctx)}, on)).Index(0).Index(len(ctx) - 1).Float64s()
		})
		hi := math.Inf(-1)
		for _, l := range logits {
			hi = math.Max(hi, l)
		}
		sum := 0.0
		for i, l := range logits {
			probs[i] = math.Exp((l - hi) / sampleTemp)
			sum += probs[i]
		}
		r, next := rng.Float64()*sum, len(probs)-1
		for i, p := range probs {
			if r < p {
				next = i
				break
			}
			r -= p
		}
		ids = append(ids, int32(next))
	}
	return tr.corpus.Vocab.Decode(ids)
}

// train runs training as cfg says and returns what it measured; it prints
// the validation losses and the summary to cfg.Out, but not the final line.
func train(cfg config) (*result, error) {
	if cfg.Stop <= 0 || cfg.Stop > cfg.Steps {
		cfg.Stop = cfg.Steps
	}
	cfg.Warmup = min(cfg.Warmup, cfg.Steps)
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	tr, err := newTrainer(cfg)
	if err != nil {
		return nil, err
	}
	res := &result{Model: tr.model}
	fmt.Fprintf(cfg.Out, "model: %d parameters; %v\n", tr.model.NumParams(), tr.corpus)
	if cfg.InitNPY != "" {
		if err := tr.writeReference(cfg.InitNPY); err != nil {
			return nil, err
		}
	}
	if cfg.Resume {
		if cfg.Ckpt == "" {
			return nil, errors.New("-resume needs -ckpt")
		}
		if res.Start, err = tr.restore(); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Out, "resumed from %s after step %d\n", cfg.Ckpt, res.Start)
	}
	var lossLog *bufio.Writer
	if cfg.LogLosses != "" {
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if cfg.Resume {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(cfg.LogLosses, flags, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		lossLog = bufio.NewWriter(f)
		defer lossLog.Flush()
	}

	start := time.Now()
	step := res.Start
	tokensPerStep := cfg.Batch * cfg.Context
	var bar *progress.Bar
	segStart, segLoss := step, 0.0
	for step < cfg.Stop {
		if bar == nil && cfg.Progress != nil {
			end := cfg.Stop
			if cfg.EvalEvery > 0 {
				end = min(end, (step/cfg.EvalEvery+1)*cfg.EvalEvery)
			}
			bar = progress.New(cfg.Progress, end-step, progress.Options{Prefix: fmt.Sprintf("steps %d-%d/%d", step+1, end, cfg.Steps), Unit: "steps"})
			segStart, segLoss = step, 0
		}
		t0 := time.Now()
		l, err := tr.step(step)
		if err != nil {
			return nil, err
		}
		res.TrainTime += time.Since(t0)
		step++
		res.Tokens += tokensPerStep
		res.Losses = append(res.Losses, l)
		if lossLog != nil {
			fmt.Fprintf(lossLog, "%d %.8f\n", step, l)
		}
		segLoss += l
		if bar != nil {
			bar.Update(step-segStart, progress.F("loss", "%.4f", segLoss/float64(step-segStart)),
				progress.F("tok/s", "%.0f", float64(res.Tokens)/res.TrainTime.Seconds()))
		}
		timeUp := cfg.Time > 0 && time.Since(start) >= cfg.Time
		if cfg.EvalEvery > 0 && step%cfg.EvalEvery == 0 && step < cfg.Stop && !timeUp {
			if bar != nil {
				bar.Finish()
				bar = nil
			}
			v := tr.evaluate(cfg.EvalWindows)
			res.Evals = append(res.Evals, evalPoint{step, v})
			fmt.Fprintf(cfg.Out, "step %d val_loss %.4f  (train %.4f, lr %.3g, %v, %.0f tokens/s)\n", step, v,
				segLoss/float64(step-segStart), tr.opts[0].LR(), time.Since(start).Round(time.Second), float64(res.Tokens)/res.TrainTime.Seconds())
			if cfg.Ckpt != "" {
				if err := tr.save(step); err != nil {
					return nil, err
				}
			}
		}
		if timeUp {
			break
		}
	}
	if bar != nil {
		bar.Finish()
	}
	res.Steps = step
	if lossLog != nil {
		if err := lossLog.Flush(); err != nil {
			return nil, err
		}
	}
	if cfg.Ckpt != "" {
		if err := tr.save(step); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	res.Final = tr.evaluate(cfg.ValWindows)
	res.Evals = append(res.Evals, evalPoint{step, res.Final})
	evalTime := time.Since(t0)
	if res.Tokens > 0 {
		fmt.Fprintf(cfg.Out, "trained steps %d-%d in %v: %.0f tokens/s (training steps only), %v in all\n", res.Start+1, step,
			res.TrainTime.Round(time.Millisecond), float64(res.Tokens)/res.TrainTime.Seconds(), time.Since(start).Round(time.Second))
	}
	windows := data.NumEvalWindows(len(tr.corpus.Val), cfg.Context)
	if cfg.ValWindows > 0 {
		windows = min(windows, cfg.ValWindows)
	}
	if tr.scaler != nil {
		fmt.Fprintf(cfg.Out, "loss scaling: %d of %d steps skipped (Inf or NaN gradients), scale now %g\n", tr.skipped, step-res.Start, tr.scaler.LossScale())
	}
	fmt.Fprintf(cfg.Out, "validation: %d windows of %d characters (%d predictions), %v\n", windows, cfg.Context, windows*cfg.Context, evalTime.Round(time.Millisecond))
	if cfg.Sample > 0 {
		res.Sample = tr.sample(cfg.Sample, cfg.Seed)
		fmt.Fprintf(cfg.Out, "sample (temperature %g, seed %d):\n%s\n", sampleTemp, cfg.Seed, res.Sample)
	}
	return res, nil
}
