package main

import (
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
)

// cfgForTest is a short run on a subset, on the CPU.
func cfgForTest(model string, epochs, train int) config {
	return config{Model: model, Epochs: epochs, Batch: 100, Optimizer: "adam", LR: 1e-3, Seed: 7,
		Train: train, Test: 2000, Device: device.CPU()}
}

func needData(t *testing.T, err error) {
	t.Helper()
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	if errors.Is(err, data.ErrNotFound) {
		t.Skipf("Fashion-MNIST is not available (%v); bash scripts/fashion-mnist.sh fetches it", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A short run on 10,000 training images reaches 0.80 test accuracy (on the
// first 2,000 test images) in two epochs.
func TestMLPLearns(t *testing.T) {
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	res, err := train(cfgForTest("mlp", 2, 10000))
	needData(t, err)
	acc := res.Epochs[len(res.Epochs)-1].Accuracy
	t.Logf("MLP, 2 epochs on 10k images: test accuracy %.4f, losses %.4f -> %.4f", acc, res.Epochs[0].Loss, res.Epochs[1].Loss)
	if acc < 0.80 {
		t.Fatalf("test accuracy %.4f, want >= 0.80", acc)
	}
	if res.Epochs[1].Loss >= res.Epochs[0].Loss {
		t.Fatalf("loss did not decrease: %v", res.Epochs)
	}
}

// The convnet trains too (a smaller subset: convolutions are costly on the
// CPU).
func TestCNNLearns(t *testing.T) {
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	res, err := train(cfgForTest("cnn", 1, 3000))
	needData(t, err)
	acc := res.Epochs[0].Accuracy
	t.Logf("CNN, 1 epoch on 3k images: test accuracy %.4f", acc)
	if acc < 0.65 {
		t.Fatalf("test accuracy %.4f, want >= 0.65", acc)
	}
}

// The same seed gives bitwise the same loss curve.
func TestDeterministic(t *testing.T) {
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	cfg := cfgForTest("mlp", 1, 2000)
	a, err := train(cfg)
	needData(t, err)
	b, err := train(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Losses) != len(b.Losses) {
		t.Fatalf("%d and %d steps", len(a.Losses), len(b.Losses))
	}
	for i := range a.Losses {
		if a.Losses[i] != b.Losses[i] {
			t.Fatalf("step %d: loss %v, then %v", i, a.Losses[i], b.Losses[i])
		}
	}
	cfg.Seed++
	c, _ := train(cfg)
	if c.Losses[len(c.Losses)-1] == a.Losses[len(a.Losses)-1] {
		t.Fatal("another seed gave the same final loss")
	}
}

// TestPlot draws a one-epoch run (the case that used to show single dots
// on impossible axes) and a three-epoch run from synthetic losses, and
// checks that the files are PNG images of the intended size. With
// TAPEGRAD_TEST_PLOT_DIR set the images are written there, for a look.
func TestPlot(t *testing.T) {
	dir := os.Getenv("TAPEGRAD_TEST_PLOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, epochs := range []int{1, 3} {
		const steps = 469
		res := &result{Steps: steps}
		for i := range epochs * steps {
			// A decaying loss with deterministic noise.
			res.Losses = append(res.Losses, 0.35+2*math.Exp(-float64(i)/40)+0.1*math.Sin(float64(i)*1.7))
		}
		for e := range epochs {
			res.Epochs = append(res.Epochs, epochStats{Loss: 0.5 - 0.05*float64(e), Accuracy: 0.85 + 0.01*float64(e)})
		}
		path := filepath.Join(dir, fmt.Sprintf("curves-%d.png", epochs))
		if err := writePlot(path, res, "test"); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 960 || cfg.Height != 384 {
			t.Errorf("%s: %+v, %v; want a 960×384 PNG (10×4 inches at 96 dpi)", path, cfg, err)
		}
	}
	// No steps at all (nothing trained) still draws valid axes.
	if err := writePlot(filepath.Join(dir, "empty.png"), &result{}, "test"); err != nil {
		t.Fatal(err)
	}
}

// The progress output of a run, written to a log (not a terminal): a line
// per tenth of the epoch, from internal/progress, then the test accuracy.
func TestProgressOutput(t *testing.T) {
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	cfg := cfgForTest("mlp", 1, 1000)
	var buf strings.Builder
	cfg.Progress = &buf
	_, err := train(cfg)
	needData(t, err)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 11 || strings.Contains(buf.String(), "\r") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, l := range lines[:10] {
		prefix := fmt.Sprintf("epoch 1/1 [%s", strings.Repeat("=", 3*(i+1)))
		if !strings.HasPrefix(l, prefix) || !strings.Contains(l, fmt.Sprintf("] %4d/1000 ", 100*(i+1))) ||
			!strings.Contains(l, " items/s  ") || !strings.Contains(l, "  loss ") {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if !strings.HasPrefix(lines[10], "  test accuracy 0.") || !strings.Contains(lines[10], ", epoch time ") {
		t.Errorf("last line: %q", lines[10])
	}
	t.Log("\n" + buf.String())
}
