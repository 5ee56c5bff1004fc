// Package data loads datasets of labelled images for training: a reader for
// the IDX format of MNIST-style files (gzip-compressed or not), [Dataset]
// with shuffled, reproducible batching into tensors, and [FashionMNIST].
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
// Loading returns errors ([*Error], matching [ErrNotFound] or [ErrFormat]
// with errors.Is) that name the file and say what was expected. Caller
// mistakes — a batch size below 1, an index out of range — panic with a
// [*tensor.Error], as in package tensor.
package data
