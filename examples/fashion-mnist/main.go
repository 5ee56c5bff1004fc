// Command fashion-mnist trains a classifier of Fashion-MNIST images with
// tapegrad, on the default device: an MLP (784-256-128-10, ReLU) by default,
// or with -model cnn a LeNet-style convnet (two 5×5 convolutions with
// max-pooling, then two dense layers). It prints a progress bar per epoch
// (items/s, elapsed and estimated remaining time, running loss; redrawn in
// place on a terminal, a line per tenth of an epoch in a log), the test
// accuracy and the time of each epoch, and with -plot writes the loss and
// accuracy curves as a PNG.
//
//	bash scripts/fashion-mnist.sh        # fetch the dataset (31 MB) once
//	go run ./examples/fashion-mnist
//	go run ./examples/fashion-mnist -model cnn -epochs 5 -plot curves.png
//
// With -dist it trains data-parallel as one rank of a job that cmd/tgrun
// (or torchrun) starts: rank 0's initial weights are broadcast, each rank
// takes its shard of every global batch of -batch examples (-batch/ranks
// each, see data.Shard) and the gradients are averaged over the ranks as
// backward produces them (distributed.DataParallel). Only rank 0 reports.
// The CPU engine, Gloo, needs the gloo build tag, which tgrun sets:
//
//	go run ./cmd/tgrun -nproc 2 ./examples/fashion-mnist -dist -epochs 1
//
// The same -seed gives bitwise the same losses on the same device.
package main

import (
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"log"
	"math"
	"os"
	"time"

	"github.com/tapegrad/tapegrad/internal/lossplot"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/distributed"
	"github.com/tapegrad/tapegrad/internal/progress"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// config is what one training run needs.
type config struct {
	Model     string  // "mlp" or "cnn"
	Epochs    int     // passes over the training set
	Batch     int     // examples per step
	Optimizer string  // "sgd" (momentum 0.9) or "adam"
	LR        float64 // learning rate
	Seed      uint64  // initialisation and shuffling
	Train     int     // use only the first Train training examples (0: all)
	Test      int     // use only the first Test test examples (0: all)
	Device    device.Device
	DataDir   string    // "" finds the dataset (see data.FashionMNISTDir)
	Progress  io.Writer // progress bars (nil: none); redrawn in place on a terminal, a line per tenth of an epoch elsewhere
	// Group, if not nil, makes the run one rank of a data-parallel job:
	// Batch is the global batch, which the ranks share.
	Group *distributed.ProcessGroup
}

// epochStats is what one epoch measured.
type epochStats struct {
	Loss     float64 // mean training loss over the epoch
	Accuracy float64 // test accuracy after the epoch
	Time     time.Duration
	Rate     float64 // training examples per second
}

// result is a whole run.
type result struct {
	Epochs []epochStats
	Losses []float64 // the loss of every step (for the plot and determinism checks)
	Steps  int       // steps per epoch
}

func buildModel(name string, d device.Device) (nn.Sequential, error) {
	on := tensor.On(d)
	switch name {
	case "mlp":
		return nn.Sequential{
			nn.Flatten{},
			nn.NewDense(784, 256, on), nn.ReLU{},
			nn.NewDense(256, 128, on), nn.ReLU{},
			nn.NewDense(128, 10, on),
		}, nil
	case "cnn":
		return nn.Sequential{
			nn.NewConv2D(1, 16, 5, 1, 2, on), nn.ReLU{}, nn.MaxPool2D{Kernel: 2, Stride: 2},
			nn.NewConv2D(16, 32, 5, 1, 2, on), nn.ReLU{}, nn.MaxPool2D{Kernel: 2, Stride: 2},
			nn.Flatten{},
			nn.NewDense(32*7*7, 128, on), nn.ReLU{},
			nn.NewDense(128, 10, on),
		}, nil
	}
	return nil, fmt.Errorf("unknown model %q (want mlp or cnn)", name)
}

// images returns a batch in the shape the model wants: [B, 1, 28, 28].
func images(x *tensor.Tensor) *tensor.Tensor {
	s := x.Shape()
	return x.Reshape(s[0], 1, 28, 28)
}

func train(cfg config) (*result, error) {
	trainSet, testSet, err := data.FashionMNIST(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Train > 0 && cfg.Train < trainSet.Len() {
		trainSet = trainSet.Subset(cfg.Train)
	}
	if cfg.Test > 0 && cfg.Test < testSet.Len() {
		testSet = testSet.Subset(cfg.Test)
	}
	tensor.Seed(cfg.Seed)
	model, err := buildModel(cfg.Model, cfg.Device)
	if err != nil {
		return nil, err
	}
	var dp *distributed.DataParallel
	dataOpts := []data.Option{data.On(cfg.Device)}
	batch := cfg.Batch
	if g := cfg.Group; g != nil {
		if cfg.Batch%g.WorldSize() != 0 {
			return nil, fmt.Errorf("the batch %d is not a multiple of the %d ranks", cfg.Batch, g.WorldSize())
		}
		batch = cfg.Batch / g.WorldSize()
		dataOpts = append(dataOpts, data.Shard(g.Rank(), g.WorldSize()))
		if dp, err = distributed.NewDataParallel(g, model, distributed.DataParallelOptions{}); err != nil {
			return nil, err
		}
		defer dp.Close()
	}
	var opt optim.Optimizer
	switch cfg.Optimizer {
	case "sgd":
		opt = optim.NewSGD(model.Params(), cfg.LR, 0.9, 0)
	case "adam":
		opt = optim.NewAdam(model.Params(), cfg.LR)
	default:
		return nil, fmt.Errorf("unknown optimizer %q (want sgd or adam)", cfg.Optimizer)
	}
	on := data.On(cfg.Device)
	xTest, yTest := images(testSet.Images(on)), testSet.Labels(on)

	steps := trainSet.NumBatches(batch, dataOpts...)
	perEpoch := trainSet.Len() // the examples of this rank per epoch
	if g := cfg.Group; g != nil {
		perEpoch = data.DistributedSampler{N: trainSet.Len(), Rank: g.Rank(), World: g.WorldSize()}.Len()
	}
	res := &result{Steps: steps}
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		start := time.Now()
		var bar *progress.Bar
		if cfg.Progress != nil {
			bar = progress.New(cfg.Progress, perEpoch, progress.Options{Prefix: fmt.Sprintf("epoch %d/%d", epoch+1, cfg.Epochs)})
		}
		var sum float64
		seen := 0
		for x, y := range trainSet.Batches(batch, true, cfg.Seed+uint64(epoch), dataOpts...) {
			var loss *tensor.Tensor
			autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(images(x)), y) })
			loss.Backward()
			if dp != nil {
				if err := dp.Sync(); err != nil {
					return nil, err
				}
			}
			opt.Step()
			l := loss.Item()
			res.Losses = append(res.Losses, l)
			n := y.Size()
			sum += l * float64(n)
			seen += n
			if bar != nil {
				bar.Update(seen, progress.F("loss", "%.4f", sum/float64(seen)))
			}
		}
		if g := cfg.Group; g != nil {
			// The mean loss and the rate over all ranks' examples.
			t := tensor.FromSlice([]float64{sum, float64(seen)}, []int{2})
			if err := g.AllReduce(t, distributed.Sum); err != nil {
				return nil, err
			}
			v := t.Float64s()
			sum, seen = v[0], int(v[1])
		}
		elapsed := time.Since(start)
		if bar != nil {
			bar.Finish()
		}
		acc := math.NaN() // not evaluated on ranks other than 0
		if cfg.Group == nil || cfg.Group.Rank() == 0 {
			acc = accuracy(model, xTest, yTest)
		}
		st := epochStats{Loss: sum / float64(seen), Accuracy: acc, Time: elapsed, Rate: float64(seen) / elapsed.Seconds()}
		res.Epochs = append(res.Epochs, st)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "  test accuracy %.4f, epoch time %v\n", acc, elapsed.Round(time.Millisecond))
		}
	}
	return res, nil
}

// accuracy evaluates the model on the test set in batches, without
// recording.
func accuracy(model nn.Sequential, x, y *tensor.Tensor) float64 {
	const batch = 1000
	n := y.Size()
	correct := 0.0
	autograd.Pause(func() {
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			logits := model.Forward(x.Slice(0, lo, hi))
			correct += nn.Accuracy(logits, y.Slice(0, lo, hi)) * float64(hi-lo)
		}
	})
	return correct / float64(n)
}

// writePlot draws the training loss against epochs (every step's loss as
// a thin line, its running mean over about a fiftieth of an epoch as a
// thick one) and the test accuracy after each epoch. The axes are clamped
// to valid ranges: the loss from 0, the accuracy within [0, 1], epochs from
// 0 to the number of epochs, so a one-epoch run shows a line and a point,
// not a dot on an arbitrary scale.
func writePlot(path string, res *result, title string) error {
	epochs := float64(max(len(res.Epochs), 1))
	lp := plot.New()
	lp.Title.Text = title + ": training loss"
	lp.X.Label.Text = "epoch"
	lp.Y.Label.Text = "cross-entropy"
	lp.Add(plotter.NewGrid())
	steps := res.Steps
	if steps <= 0 {
		steps = max(len(res.Losses)/max(len(res.Epochs), 1), 1)
	}
	window := max(steps/50, 1)
	maxLoss, err := lossplot.Steps(lp, res.Losses, func(i int) float64 { return float64(i+1) / float64(steps) }, window,
		"every step", fmt.Sprintf("mean of %d steps", window))
	if err != nil {
		return err
	}
	lp.Legend.Top = true
	epochLoss := make(plotter.XYs, len(res.Epochs))
	accPts := make(plotter.XYs, len(res.Epochs))
	for i, e := range res.Epochs {
		epochLoss[i] = plotter.XY{X: float64(i + 1), Y: e.Loss}
		accPts[i] = plotter.XY{X: float64(i + 1), Y: e.Accuracy}
		maxLoss = math.Max(maxLoss, e.Loss)
	}
	if len(epochLoss) > 0 {
		s, err := plotter.NewScatter(epochLoss)
		if err != nil {
			return err
		}
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		s.Color = color.RGBA{R: 200, G: 60, B: 20, A: 255}
		lp.Add(s)
		lp.Legend.Add("epoch mean", s)
		lp.Legend.Top = true
	}
	if maxLoss == 0 || math.IsNaN(maxLoss) || math.IsInf(maxLoss, 0) {
		maxLoss = 1
	}
	lp.X.Min, lp.X.Max = 0, epochs
	lp.Y.Min, lp.Y.Max = 0, maxLoss*1.05

	ap := plot.New()
	ap.Title.Text = title + ": test accuracy"
	ap.X.Label.Text = "epoch"
	ap.Y.Label.Text = "accuracy"
	ap.Add(plotter.NewGrid())
	if len(accPts) > 0 {
		l, s, err := plotter.NewLinePoints(accPts)
		if err != nil {
			return err
		}
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		ap.Add(l, s)
	}
	ap.X.Min, ap.X.Max = 0, epochs
	ap.Y.Min, ap.Y.Max = 0, 1

	img := vgimg.New(10*vg.Inch, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 5, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{lp, ap}}, tiles, dc)
	lp.Draw(canvases[0][0])
	ap.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	cfg := config{Progress: os.Stderr}
	dev := flag.String("device", "", "device to train on (default: TAPEGRAD_DEVICE, else a GPU if present, else cpu)")
	flag.StringVar(&cfg.Model, "model", "mlp", "mlp (784-256-128-10) or cnn (LeNet-style)")
	flag.IntVar(&cfg.Epochs, "epochs", 10, "passes over the training set")
	flag.IntVar(&cfg.Batch, "batch", 128, "batch size")
	flag.StringVar(&cfg.Optimizer, "optimizer", "adam", "sgd (momentum 0.9) or adam")
	flag.Float64Var(&cfg.LR, "lr", 0, "learning rate (default 1e-3 for adam, 0.05 for sgd)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of initialisation and shuffling")
	flag.IntVar(&cfg.Train, "train", 0, "train on the first N examples only")
	flag.IntVar(&cfg.Test, "test", 0, "test on the first N examples only")
	flag.StringVar(&cfg.DataDir, "data", "", "directory of the four Fashion-MNIST IDX files (default: see scripts/fashion-mnist.sh)")
	plotPath := flag.String("plot", "", "write the loss and accuracy curves to this PNG file")
	dist := flag.Bool("dist", false, "train data-parallel as one rank of a job started by cmd/tgrun or torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); -batch is the global batch")
	flag.Parse()
	if *dist {
		g, err := distributed.InitFromEnv()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fashion-mnist:", err)
			os.Exit(2)
		}
		defer g.Close()
		cfg.Group = g
		if g.Rank() != 0 {
			cfg.Progress = nil
		}
	}

	d, err := device.Select(*dev)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fashion-mnist:", err)
		os.Exit(2)
	}
	if cfg.Group != nil && d.IsCUDA() {
		// One GPU per rank: NCCL refuses two ranks on one device.
		if d, err = device.Select(device.CUDA(cfg.Group.LocalRank()).String()); err != nil {
			fmt.Fprintln(os.Stderr, "fashion-mnist:", err)
			os.Exit(2)
		}
	}
	cfg.Device = d
	if cfg.LR == 0 {
		cfg.LR = 1e-3
		if cfg.Optimizer == "sgd" {
			cfg.LR = 0.05
		}
	}
	if cfg.Group == nil || cfg.Group.Rank() == 0 {
		ranks := ""
		if cfg.Group != nil {
			ranks = fmt.Sprintf(" (data-parallel over %d ranks)", cfg.Group.WorldSize())
		}
		fmt.Fprintf(os.Stderr, "training %s on %v: %d epochs, batch %d%s, %s lr %g, seed %d\n",
			cfg.Model, cfg.Device, cfg.Epochs, cfg.Batch, ranks, cfg.Optimizer, cfg.LR, cfg.Seed)
	}
	res, err := train(cfg)
	if errors.Is(err, data.ErrNotFound) {
		log.Fatalf("%v\n(run: bash scripts/fashion-mnist.sh)", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	if cfg.Group != nil && cfg.Group.Rank() != 0 {
		return
	}
	var total time.Duration
	best := math.Inf(-1)
	fmt.Printf("model %s on %v\n", cfg.Model, cfg.Device)
	fmt.Println("epoch  loss    test-accuracy  time      items/s")
	for i, e := range res.Epochs {
		total += e.Time
		best = math.Max(best, e.Accuracy)
		fmt.Printf("%5d  %.4f  %.4f         %-8v  %.0f\n", i+1, e.Loss, e.Accuracy, e.Time.Round(time.Millisecond), e.Rate)
	}
	fmt.Printf("final test accuracy %.4f (best %.4f) after %d epochs, %v training\n",
		res.Epochs[len(res.Epochs)-1].Accuracy, best, len(res.Epochs), total.Round(time.Millisecond))
	if *plotPath != "" {
		if err := writePlot(*plotPath, res, "Fashion-MNIST "+cfg.Model); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", *plotPath)
	}
}
