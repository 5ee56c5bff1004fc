package distributed

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/tensor"
)

func TestStore(t *testing.T) {
	srv, err := listenStore("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	addr := srv.ln.Addr().String()
	a, err := dialStore(addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := dialStore(addr, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()

	// A Get waits for a later Set by another client.
	var wg sync.WaitGroup
	wg.Add(1)
	var got []byte
	var gerr error
	go func() {
		defer wg.Done()
		got, gerr = a.Get("k")
	}()
	time.Sleep(50 * time.Millisecond)
	if err := b.Set("k", []byte("value")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if gerr != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v", got, gerr)
	}
	// Add counts.
	for i := int64(1); i <= 3; i++ {
		n, err := a.Add("n", 1)
		if err != nil || n != i {
			t.Fatalf("Add = %d, %v, want %d", n, err, i)
		}
	}
	if n, err := b.Add("n", 10); err != nil || n != 13 {
		t.Fatalf("Add = %d, %v", n, err)
	}
	// A missing key times out with ErrTimeout within about the timeout.
	start := time.Now()
	_, err = b.Get("missing")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Get of a missing key: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Get of a missing key took %v with a 300ms timeout", d)
	}
	// The connection still works after a timeout.
	if v, err := b.Get("k"); err != nil || string(v) != "value" {
		t.Fatalf("Get after a timeout = %q, %v", v, err)
	}
}

func TestEnvOptions(t *testing.T) {
	t.Setenv(EnvRank, "2")
	t.Setenv(EnvWorldSize, "4")
	t.Setenv(EnvMasterAddr, "10.0.0.1")
	t.Setenv(EnvMasterPort, "29500")
	t.Setenv(EnvLocalRank, "")
	t.Setenv(EnvTimeout, "7s")
	o, err := EnvOptions()
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Rank: 2, LocalRank: 2, WorldSize: 4, MasterAddr: "10.0.0.1", MasterPort: 29500, Timeout: 7 * time.Second}
	if o != want {
		t.Fatalf("EnvOptions = %+v, want %+v", o, want)
	}
	t.Setenv(EnvLocalRank, "1")
	if o, _ := EnvOptions(); o.LocalRank != 1 {
		t.Fatalf("LOCAL_RANK=1 gave %d", o.LocalRank)
	}
	t.Setenv(EnvWorldSize, "four")
	if _, err := EnvOptions(); !errors.Is(err, ErrEnv) {
		t.Fatalf("WORLD_SIZE=four: %v, want ErrEnv", err)
	}
	t.Setenv(EnvWorldSize, "4")
	t.Setenv(EnvMasterAddr, "")
	if _, err := EnvOptions(); !errors.Is(err, ErrEnv) {
		t.Fatalf("no MASTER_ADDR: %v, want ErrEnv", err)
	}
	if _, err := Init(Options{Rank: 4, WorldSize: 4, MasterAddr: "127.0.0.1", MasterPort: 1}); !errors.Is(err, ErrEnv) {
		t.Fatalf("rank 4 of 4: %v, want ErrEnv", err)
	}
}

// A rank whose peers never come fails with ErrTimeout, not a hang.
func TestInitTimeout(t *testing.T) {
	start := time.Now()
	_, err := Init(Options{Rank: 0, WorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: freePort(t), Timeout: 500 * time.Millisecond})
	if !HaveGloo {
		t.Skip("without Gloo, Init does not wait for peers")
	}
	var e *Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || e.Op != "Init" {
		t.Fatalf("Init without peers: %v, want an *Error of kind ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Init without peers failed after %v with a 500ms timeout", d)
	}
}

// A group of one works without an engine for everything but the
// collectives, which fail with ErrNoEngine in a build without Gloo.
func TestSingleRank(t *testing.T) {
	g, err := Init(Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromSlice([]float32{1, 2, 3}, []int{3})
	err = g.AllReduce(x, Average)
	if !HaveGloo {
		if !errors.Is(err, ErrNoEngine) {
			t.Fatalf("AllReduce without Gloo: %v, want ErrNoEngine", err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	if got := x.Float32s(); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("AllReduce over one rank changed x to %v", got)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.AllReduce(x, Sum); !errors.Is(err, ErrClosed) {
		t.Fatalf("AllReduce after Close: %v, want ErrClosed", err)
	}
}
