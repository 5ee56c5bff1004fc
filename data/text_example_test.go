package data_test

import (
	"fmt"
	"log"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// A vocabulary of the bytes of a text, and a round trip through it.
func ExampleVocab() {
	text := []byte("to be or not to be")
	v := data.NewVocab(text)
	ids, err := v.Encode(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v: %q\n", v, v.Chars())
	fmt.Println(ids)
	fmt.Println(v.Decode(ids[:5]))
	_, err = v.Encode([]byte("to be, or"))
	fmt.Println(err)
	// Output:
	// Vocab(7 characters): " benort"
	// [6 4 0 1 2 0 4 5 0 3 4 6 0 6 4 0 1 2]
	// to be
	// data: byte "," (0x2c) at offset 5 is not in the vocabulary of 7 characters
}

// Language-model batches of 3 windows of 8 characters: y is x shifted by
// one, and the batches of a step are the same for the same seed everywhere.
func ExampleCharBatches() {
	c := data.NewCorpus([]byte("the quick brown fox jumps over the lazy dog; the quick brown fox jumps over the lazy dog."))
	batches := data.CharBatches(c.Train, 3, 8, 1)
	for step := range 2 {
		x, y := batches.Batch(step)
		fmt.Println("step", step, "windows at", batches.Starts(step))
		for i := range 3 {
			fmt.Printf("  %q -> %q\n", c.Vocab.Decode(x[i*8:(i+1)*8]), c.Vocab.Decode(y[i*8:(i+1)*8]))
		}
	}
	// Tensors of any dtype from the host slices: here float32 inputs [3, 8].
	x, _ := batches.Batch(0)
	xf := make([]float32, len(x))
	for i, id := range x {
		xf[i] = float32(id)
	}
	fmt.Println(tensor.FromSlice(xf, []int{3, 8}, tensor.On(device.CPU())).Shape())
	// Output:
	// step 0 windows at [40 53 69]
	//   "dog; the" -> "og; the "
	//   "k brown " -> " brown f"
	//   "s over t" -> " over th"
	// step 1 windows at [6 33 51]
	//   "ick brow" -> "ck brown"
	//   "e lazy d" -> " lazy do"
	//   "ick brow" -> "ck brown"
	// [3 8]
}

// The validation order: non-overlapping windows, in order, in batches.
func ExampleEvalBatches() {
	v := data.NewVocab([]byte("abcdefghijklmnopqrstuvwxyz"))
	tokens, _ := v.Encode([]byte("abcdefghijklmnopqrstuvwxyz"))
	fmt.Println(data.NumEvalWindows(len(tokens), 4), "windows")
	for x, y := range data.EvalBatches(tokens, 4, 4) {
		fmt.Printf("%q -> %q\n", v.Decode(x), v.Decode(y))
	}
	// Output:
	// 6 windows
	// "abcdefghijklmnop" -> "bcdefghijklmnopq"
	// "qrstuvwx" -> "rstuvwxy"
}

// Count-model baselines on a tiny corpus: the more context, the lower the
// validation cross-entropy (nats per character), as long as there is enough
// text to count.
func ExampleNGramCrossEntropy() {
	text := []byte("she sells sea shells by the sea shore; the shells she sells are sea shells, she says. ")
	c := data.NewCorpus(append(append(text, text...), text...))
	for n := 1; n <= 3; n++ {
		fmt.Printf("n=%d: %.3f\n", n, data.NGramCrossEntropy(c.Train, c.Val, c.Vocab.Size(), n, 0.1))
	}
	// Output:
	// n=1: 2.262
	// n=2: 1.090
	// n=3: 0.620
}

func ExampleFortunes() {
	c, err := data.Fortunes("") // $TAPEGRAD_FORTUNES, Debian's package, or .cache/fortunes
	if err != nil {
		log.Fatal(err) // says how to get the corpus: bash scripts/fortunes.sh
	}
	fmt.Println(c) // Corpus(2478275 characters, vocabulary of 114, 2230447 train, 247828 validation)
	batches := data.CharBatches(c.Train, 64, 128, 1)
	for step := range 1000 {
		x, y := batches.Batch(step) // 64·128 ids each
		_, _ = x, y
	}
	for x, y := range data.EvalBatches(c.Val, 64, 128) {
		_, _ = x, y
	}
}
