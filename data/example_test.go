package data_test

import (
	"compress/gzip"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
)

// writeIDX writes x to path, gzip-compressed.
func writeIDX(path string, x *data.IDX) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	z := gzip.NewWriter(f)
	if err := data.WriteIDX(z, x); err != nil {
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	return f.Close()
}

// Five images of 2×2 pixels written as IDX files, loaded, and read in
// shuffled batches of two.
func Example() {
	dir, err := os.MkdirTemp("", "idx")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	images := filepath.Join(dir, "images-idx3-ubyte.gz")
	labels := filepath.Join(dir, "labels-idx1-ubyte.gz")
	err = writeIDX(images, &data.IDX{Type: data.IDXUint8, Dims: []int{5, 2, 2}, Data: []uint8{
		0, 0, 0, 0,
		255, 255, 255, 255,
		0, 51, 102, 255,
		255, 0, 0, 255,
		0, 255, 255, 0,
	}})
	if err == nil {
		err = writeIDX(labels, &data.IDX{Type: data.IDXUint8, Dims: []int{5}, Data: []uint8{0, 1, 2, 3, 4}})
	}
	if err != nil {
		log.Fatal(err)
	}

	d, err := data.Load(images, labels)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d)
	for x, y := range d.Batches(2, true, 42, data.On(device.CPU()), data.Flat()) {
		fmt.Println("labels", y, "images", x.Shape())
		fmt.Println(x)
	}
	// Output:
	// Dataset(5 images of 2×2)
	// labels [1 2] images [2 4]
	// [[  1   1   1   1]
	//  [  0 0.2 0.4   1]]
	// labels [4 0] images [2 4]
	// [[0 1 1 0]
	//  [0 0 0 0]]
	// labels [3] images [1 4]
	// [[1 0 0 1]]
}

func ExamplePermutation() {
	fmt.Println(data.Permutation(10, 42))
	fmt.Println(data.Permutation(10, 43))
	// Output:
	// [8 3 6 5 4 0 9 2 1 7]
	// [4 9 2 1 6 0 8 3 5 7]
}

func ExampleFashionMNIST() {
	train, test, err := data.FashionMNIST("") // $TAPEGRAD_FASHION_MNIST, Debian's package, or .cache/fashion-mnist
	if err != nil {
		log.Fatal(err) // says how to get the dataset
	}
	dev := device.Default()
	for epoch := range 10 {
		for x, y := range train.Batches(128, true, uint64(epoch), data.On(dev), data.Flat()) {
			_, _ = x, y // x: [128, 784] pixels in [0, 1]; y: [128] labels 0 to 9
		}
	}
	xTest, yTest := test.Images(data.On(dev), data.Flat()), test.Labels(data.On(dev))
	fmt.Println(xTest.Shape(), yTest.Shape(), data.FashionMNISTClasses[test.Label(0)])
}
