// Package data loads datasets for training: labelled images — a reader for
// the IDX format of MNIST-style files (gzip-compressed or not), [Dataset]
// with shuffled, reproducible batching into tensors, and [FashionMNIST] —
// and text for character-level language models — the fortunes corpus
// ([Fortunes]), a byte vocabulary ([Vocab]), a 90/10 train/validation
// split, seeded random batches of windows ([CharBatches]), a fixed
// validation order ([EvalBatches]), and n-gram count models as baselines
// ([NGramCrossEntropy]).
//
// Getting Fashion-MNIST: Debian's package dataset-fashion-mnist installs it
// under /usr/share/datasets/fashion-mnist (apt-get, as root);
// scripts/fashion-mnist.sh extracts the same files into .cache/fashion-mnist
// of a tapegrad checkout without root and without installing anything.
// [FashionMNIST] with dir "" finds either (see [FashionMNISTDir]).
//
//	train, test, err := data.FashionMNIST("")
//	if err != nil {
//		log.Fatal(err) // says how to get the dataset
//	}
//	for epoch := range 10 {
//		for x, y := range train.Batches(128, true, uint64(epoch), data.On(dev), data.Flat()) {
//			// x: [128, 784] float32 in [0, 1]; y: [128] class indices
//		}
//	}
//	xTest, yTest := test.Images(data.On(dev), data.Flat()), test.Labels(data.On(dev))
//
// Getting the fortunes corpus: scripts/fortunes.sh extracts the 40 text
// files of Debian's package fortunes into .cache/fortunes, where
// [Fortunes]("") finds them (see [FortunesDir]).
//
//	c, err := data.Fortunes("")
//	if err != nil {
//		log.Fatal(err) // says how to get the corpus
//	}
//	batches := data.CharBatches(c.Train, 64, 128, seed)
//	for step := range steps {
//		x, y := batches.Batch(step) // []int32 of 64·128 ids each: inputs and next characters
//	}
//	for x, y := range data.EvalBatches(c.Val, 64, 128) { ... }
//
// Loading and encoding return errors ([*Error], matching [ErrNotFound],
// [ErrFormat] or [ErrUnknownChar] with errors.Is) that name the file and say
// what was expected. Caller
// mistakes — a batch size below 1, an index out of range — panic with a
// [*tensor.Error], as in package tensor.
package data
