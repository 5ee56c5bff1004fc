package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Where [FashionMNIST] looks for the dataset.
const (
	// FashionMNISTEnv is the environment variable that names the directory
	// of the Fashion-MNIST files, overriding the default locations.
	FashionMNISTEnv = "TAPEGRAD_FASHION_MNIST"
	// FashionMNISTSystemDir is where Debian's dataset-fashion-mnist package
	// installs the files.
	FashionMNISTSystemDir = "/usr/share/datasets/fashion-mnist"
	// FashionMNISTCacheDir is where scripts/fashion-mnist.sh extracts them
	// without root, relative to the root of a tapegrad checkout.
	FashionMNISTCacheDir = ".cache/fashion-mnist"
)

// The standard names of the four Fashion-MNIST files, as in Debian's package
// and the upstream repository.
const (
	FashionMNISTTrainImages = "train-images-idx3-ubyte.gz"
	FashionMNISTTrainLabels = "train-labels-idx1-ubyte.gz"
	FashionMNISTTestImages  = "t10k-images-idx3-ubyte.gz"
	FashionMNISTTestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// FashionMNISTClasses are the names of the ten Fashion-MNIST classes, by
// label.
var FashionMNISTClasses = [10]string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

const fashionMNISTHelp = "get it with `bash scripts/fashion-mnist.sh` in a tapegrad checkout " +
	"(no root needed: it extracts the files into " + FashionMNISTCacheDir + ", where they are found, and prints the directory, for $" + FashionMNISTEnv +
	") or with `apt-get install dataset-fashion-mnist` (Debian 12, as root)"

// FashionMNIST loads Zalando's Fashion-MNIST: 60,000 training and 10,000
// test images of 28×28 pixels in 10 classes ([FashionMNISTClasses]), from
// the four gzip-compressed IDX files with their standard names in dir. The
// files are read concurrently; on a 2-core machine loading takes about half
// a second, most of it decompressing the training images.
//
// With dir "", it uses [FashionMNISTDir]. A missing dataset gives an error
// that matches [ErrNotFound] and says how to get it; malformed files give
// [ErrFormat] errors naming the file, as do images that are not 28×28 and
// labels outside 0 to 9.
func FashionMNIST(dir string) (train, test *Dataset, err error) {
	if dir == "" {
		if dir, err = FashionMNISTDir(); err != nil {
			return nil, nil, err
		}
	}
	var missing []string
	for _, f := range []string{FashionMNISTTrainImages, FashionMNISTTrainLabels, FashionMNISTTestImages, FashionMNISTTestLabels} {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, nil, &Error{Path: dir, Kind: ErrNotFound, Err: os.ErrNotExist, Detail: fmt.Sprintf(
			"Fashion-MNIST file(s) missing: %s; %s", strings.Join(missing, ", "), fashionMNISTHelp)}
	}
	var wg sync.WaitGroup
	var terr error
	wg.Go(func() {
		train, terr = loadFashionMNIST(dir, FashionMNISTTrainImages, FashionMNISTTrainLabels)
	})
	test, err = loadFashionMNIST(dir, FashionMNISTTestImages, FashionMNISTTestLabels)
	wg.Wait()
	if terr != nil {
		return nil, nil, terr
	}
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadFashionMNIST(dir, images, labels string) (*Dataset, error) {
	ipath, lpath := filepath.Join(dir, images), filepath.Join(dir, labels)
	d, err := Load(ipath, lpath)
	if err != nil {
		return nil, err
	}
	if d.rows != 28 || d.cols != 28 {
		return nil, formatErr(ipath, nil, "images of %d×%d pixels, want 28×28 for Fashion-MNIST", d.rows, d.cols)
	}
	for i, l := range d.labels {
		if l >= 10 {
			return nil, formatErr(lpath, nil, "label %d at index %d, want 0 to 9 for Fashion-MNIST", l, i)
		}
	}
	return d, nil
}

// FashionMNISTDir returns the directory that [FashionMNIST]("") loads from:
// the directory named by $TAPEGRAD_FASHION_MNIST if that is set (whether or
// not it holds the files), else the first of these that holds the training
// images:
//
//   - /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist),
//   - .cache/fashion-mnist in the working directory or the nearest parent
//     directory that has one (where scripts/fashion-mnist.sh puts the files;
//     this finds them from anywhere inside a tapegrad checkout).
//
// If none does, it returns an [ErrNotFound] error that says how to get the
// dataset.
func FashionMNISTDir() (string, error) {
	if dir := os.Getenv(FashionMNISTEnv); dir != "" {
		return dir, nil
	}
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, FashionMNISTTrainImages))
		return err == nil
	}
	if has(FashionMNISTSystemDir) {
		return FashionMNISTSystemDir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, FashionMNISTCacheDir); has(c) {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", &Error{Path: FashionMNISTSystemDir, Kind: ErrNotFound, Err: os.ErrNotExist, Detail: fmt.Sprintf(
		"Fashion-MNIST not found (nor in %s of the working directory or its parents, and $%s is not set); %s",
		FashionMNISTCacheDir, FashionMNISTEnv, fashionMNISTHelp)}
}
