package mode

import (
	"runtime"
	"sync"
	"testing"
)

func TestNestAndRestore(t *testing.T) {
	if Current() != 0 {
		t.Fatalf("state %v before any scope", Current())
	}
	p1 := Enter(RecordBit | TrainBit)
	if !Recording() || !Training() || Anomaly() {
		t.Fatalf("in Record-like scope: %v", Current())
	}
	p2 := Enter(AnomalyBit)
	if Recording() || Training() || !Anomaly() {
		t.Fatalf("in anomaly scope: %v", Current())
	}
	Exit(p2)
	if Current() != RecordBit|TrainBit || Anomaly() {
		t.Fatalf("after inner exit: %v", Current())
	}
	Exit(p1)
	if Current() != 0 || open.Load() != 0 || anomalies.Load() != 0 {
		t.Fatalf("after outer exit: state %v, open %d, anomalies %d", Current(), open.Load(), anomalies.Load())
	}
}

// TestGoroutinesIndependent: a goroutine's scope is invisible to others,
// and goroutines that start, enter scopes and exit (so that the runtime
// reuses their descriptors) never inherit a state.
func TestGoroutinesIndependent(t *testing.T) {
	p := Enter(RecordBit | TrainBit | AnomalyBit)
	defer Exit(p)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if s := Current(); s != 0 {
					errs <- "a goroutine inside no scope saw another's state"
					return
				}
				var inner sync.WaitGroup
				inner.Add(1)
				go func() { // a short-lived goroutine with a scope of its own
					defer inner.Done()
					q := Enter(State(i%4) &^ AnomalyBit)
					if Current() != State(i%4)&^AnomalyBit {
						errs <- "a goroutine does not see its own state"
					}
					Exit(q)
				}()
				inner.Wait()
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if Current() != RecordBit|TrainBit|AnomalyBit {
		t.Fatalf("own state changed to %v", Current())
	}
}

func BenchmarkCurrent(b *testing.B) {
	b.Run("no-scope-anywhere", func(b *testing.B) {
		for b.Loop() {
			Current()
		}
	})
	b.Run("inside-scope", func(b *testing.B) {
		p := Enter(RecordBit)
		defer Exit(p)
		for b.Loop() {
			Current()
		}
	})
	b.Run("other-goroutine-in-scope", func(b *testing.B) {
		in, out := make(chan struct{}), make(chan struct{})
		go func() { p := Enter(RecordBit); in <- struct{}{}; <-out; Exit(p); in <- struct{}{} }()
		<-in
		for b.Loop() {
			Current()
		}
		out <- struct{}{}
		<-in
	})
	b.Run("enter-exit-outermost", func(b *testing.B) {
		for b.Loop() {
			Exit(Enter(RecordBit))
		}
	})
	b.Run("enter-exit-inner", func(b *testing.B) {
		p := Enter(RecordBit)
		defer Exit(p)
		for b.Loop() {
			Exit(Enter(0))
		}
	})
}

// TestIdentity: self and stackID tell goroutines apart and are stable
// within one goroutine.
func TestIdentity(t *testing.T) {
	a, ai := self(), stackID()
	if self() != a || stackID() != ai {
		t.Fatal("identity of one goroutine changed")
	}
	done := make(chan [2]any)
	go func() { done <- [2]any{self(), stackID()} }()
	o := <-done
	if o[0] == a || o[1] == ai {
		t.Fatalf("two goroutines share an identity: %v %v / %v %v", a, ai, o[0], o[1])
	}
}

// TestAutocastCount: Autocast reads the calling goroutine's autocast bits,
// the count of autocasting goroutines follows nested scopes that switch
// the type, and a goroutine outside any scope sees none.
func TestAutocastCount(t *testing.T) {
	if Autocast() != 0 {
		t.Fatal("autocast before any scope")
	}
	p1 := Enter(RecordBit | AutocastBF16)
	p2 := Enter(RecordBit | AutocastF16) // switching types keeps the count
	if Autocast() != AutocastF16 || autocasts.Load() != 1 {
		t.Fatalf("inner: %v, count %d", Autocast(), autocasts.Load())
	}
	done := make(chan State)
	go func() { done <- Autocast() }()
	if s := <-done; s != 0 {
		t.Fatalf("another goroutine sees %v", s)
	}
	p3 := Enter(RecordBit) // autocast disabled
	if Autocast() != 0 || autocasts.Load() != 0 {
		t.Fatalf("disabled: %v, count %d", Autocast(), autocasts.Load())
	}
	Exit(p3)
	Exit(p2)
	if Autocast() != AutocastBF16 || Current() != RecordBit|AutocastBF16 {
		t.Fatalf("after inner exit: %v", Current())
	}
	Exit(p1)
	if Autocast() != 0 || autocasts.Load() != 0 || open.Load() != 0 {
		t.Fatalf("after outer exit: %v, count %d", Autocast(), autocasts.Load())
	}
}

// BenchmarkAutocast: the read that MatMul, Conv2D and attention make on
// every call. Inside a Record-like scope without autocast it stays one
// atomic load (the autocast count is 0).
func BenchmarkAutocast(b *testing.B) {
	b.Run("no-scope-anywhere", func(b *testing.B) {
		for b.Loop() {
			Autocast()
		}
	})
	b.Run("inside-record-scope", func(b *testing.B) {
		p := Enter(RecordBit | TrainBit)
		defer Exit(p)
		for b.Loop() {
			Autocast()
		}
	})
	b.Run("inside-autocast-scope", func(b *testing.B) {
		p := Enter(RecordBit | AutocastBF16)
		defer Exit(p)
		for b.Loop() {
			Autocast()
		}
	})
}
