package data

import (
	"fmt"
	"math"
	"sync"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
	"github.com/tapegrad/tapegrad/tensor"
)

// Dataset is a set of labelled grayscale images held in host memory as
// bytes: pixel values 0 to 255 and class indices. Its methods turn them into
// tensors on a device: pixels scaled to [0, 1] (v/255 in float32
// arithmetic, so 255 gives exactly 1), labels as float32 class indices.
//
// A Dataset is read-only after it is made and safe for concurrent use.
// Slices of a dataset share its memory.
type Dataset struct {
	pixels     []uint8 // Len()*rows*cols pixel values, image after image
	labels     []uint8
	rows, cols int
}

// NewDataset returns a dataset of len(labels) images of rows×cols pixels,
// stored row after row, image after image, in pixels. The dataset uses the
// slices without copying them; do not modify them afterwards. It panics with
// a [*tensor.Error] of kind [tensor.ErrArgument] if the lengths do not
// match.
func NewDataset(pixels, labels []uint8, rows, cols int) *Dataset {
	if rows < 1 || cols < 1 || rows > math.MaxInt/cols || len(labels) > math.MaxInt/(rows*cols) ||
		len(pixels) != len(labels)*rows*cols {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NewDataset", Detail: fmt.Sprintf(
			"%d pixel values for %d labels and images of %d×%d", len(pixels), len(labels), rows, cols)})
	}
	return &Dataset{pixels: pixels, labels: labels, rows: rows, cols: cols}
}

// Load reads a dataset from an IDX image file (magic 0x00000803: unsigned
// bytes, dimensions N×rows×cols) and an IDX label file (magic 0x00000801:
// unsigned bytes, dimension N), each gzip-compressed or not. The two files
// are read concurrently. Errors are [*Error]s that name the file; errors.Is
// matches [ErrNotFound] for a missing file and [ErrFormat] for a malformed
// one or for files of different lengths.
func Load(imagesPath, labelsPath string) (*Dataset, error) {
	var images, labels *IDX
	var ierr, lerr error
	var wg sync.WaitGroup
	wg.Go(func() { images, ierr = readIDXFile(imagesPath, imageFile) })
	labels, lerr = readIDXFile(labelsPath, labelFile)
	wg.Wait()
	if ierr != nil {
		return nil, ierr
	}
	if lerr != nil {
		return nil, lerr
	}
	n, rows, cols := images.Dims[0], images.Dims[1], images.Dims[2]
	if rows < 1 || cols < 1 {
		return nil, formatErr(imagesPath, nil, "images of %d×%d pixels", rows, cols)
	}
	if labels.Dims[0] != n {
		return nil, formatErr(labelsPath, nil, "%d labels for the %d images of %s", labels.Dims[0], n, imagesPath)
	}
	return &Dataset{pixels: images.Data.([]uint8), labels: labels.Data.([]uint8), rows: rows, cols: cols}, nil
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.labels) }

// ImageShape returns the shape of one image: [rows, cols].
func (d *Dataset) ImageShape() []int { return []int{d.rows, d.cols} }

// String describes the dataset, e.g. "Dataset(60000 images of 28×28)".
func (d *Dataset) String() string {
	return fmt.Sprintf("Dataset(%d images of %d×%d)", d.Len(), d.rows, d.cols)
}

// Image returns the pixel values (0 to 255) of image i, row after row. The
// slice shares the dataset's memory: do not modify it.
func (d *Dataset) Image(i int) []uint8 {
	d.checkIndex("data.Image", i)
	n := d.rows * d.cols
	return d.pixels[i*n : (i+1)*n : (i+1)*n]
}

// Label returns the class index of example i.
func (d *Dataset) Label(i int) int {
	d.checkIndex("data.Label", i)
	return int(d.labels[i])
}

// Pixels returns the pixel values (0 to 255) of all images, image after
// image. The slice shares the dataset's memory: do not modify it.
func (d *Dataset) Pixels() []uint8 { return d.pixels[:len(d.pixels):len(d.pixels)] }

// LabelBytes returns the class indices. The slice shares the dataset's
// memory: do not modify it.
func (d *Dataset) LabelBytes() []uint8 { return d.labels[:len(d.labels):len(d.labels)] }

// LabelInts returns a copy of the class indices as ints.
func (d *Dataset) LabelInts() []int {
	out := make([]int, len(d.labels))
	for i, l := range d.labels {
		out[i] = int(l)
	}
	return out
}

// Slice returns the examples start to end-1 as a dataset that shares d's
// memory. It panics with a [*tensor.Error] of kind [tensor.ErrIndex] unless
// 0 <= start <= end <= d.Len().
func (d *Dataset) Slice(start, end int) *Dataset {
	if start < 0 || end < start || end > d.Len() {
		panic(&tensor.Error{Kind: tensor.ErrIndex, Op: "data.Slice", Detail: fmt.Sprintf(
			"[%d:%d] of %d examples", start, end, d.Len())})
	}
	n := d.rows * d.cols
	return &Dataset{pixels: d.pixels[start*n : end*n : end*n], labels: d.labels[start:end:end], rows: d.rows, cols: d.cols}
}

// Subset returns the first n examples, as d.Slice(0, n).
func (d *Dataset) Subset(n int) *Dataset { return d.Slice(0, n) }

// Images returns all images as one tensor of shape [N, rows, cols] (with
// [Flat]: [N, rows*cols]), float32 unless [TensorOptions] says otherwise,
// on the device given by [On] (default: [device.Default]), with pixel values
// scaled to [0, 1]. For the 60,000 Fashion-MNIST training images that is 188
// MB of float32.
func (d *Dataset) Images(opts ...Option) *tensor.Tensor {
	c := newConfig(opts)
	buf := make([]float32, len(d.pixels))
	parallel.For(len(buf), 1<<16, func(lo, hi int) { scale(buf[lo:hi], d.pixels[lo:hi]) })
	return tensor.FromSlice(buf, d.shape(d.Len(), c.flat), c.topts...)
}

// Labels returns the class indices as a tensor of shape [N], float32 unless
// [TensorOptions] says otherwise, on the device given by [On].
func (d *Dataset) Labels(opts ...Option) *tensor.Tensor {
	c := newConfig(opts)
	buf := make([]float32, len(d.labels))
	for i, l := range d.labels {
		buf[i] = float32(l)
	}
	return tensor.FromSlice(buf, []int{len(buf)}, c.topts...)
}

func (d *Dataset) checkIndex(op string, i int) {
	if i < 0 || i >= d.Len() {
		panic(&tensor.Error{Kind: tensor.ErrIndex, Op: op, Detail: fmt.Sprintf("example %d of %d", i, d.Len())})
	}
}

// shape returns the shape of a tensor of n images.
func (d *Dataset) shape(n int, flat bool) []int {
	if flat {
		return []int{n, d.rows * d.cols}
	}
	return []int{n, d.rows, d.cols}
}

// unit[v] is v/255 in float32.
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

func scale(dst []float32, src []uint8) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = unit[v]
	}
}

// Option configures the tensors that [Dataset.Images], [Dataset.Labels]
// and [Dataset.Batches] make.
type Option func(*config)

type config struct {
	topts       []tensor.Option
	flat        bool
	dropLast    bool
	rank, world int // Shard; world 0: all examples
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// On places the tensors on device d (default: [device.Default]).
func On(d device.Device) Option {
	return func(c *config) { c.topts = append(c.topts, tensor.On(d)) }
}

// TensorOptions passes options to the tensor constructor, e.g.
// TensorOptions(tensor.WithDType(tensor.Float64)) or
// TensorOptions(tensor.On(d)).
func TensorOptions(opts ...tensor.Option) Option {
	return func(c *config) { c.topts = append(c.topts, opts...) }
}

// Flat makes images vectors: tensors of shape [N, rows*cols] rather than
// [N, rows, cols].
func Flat() Option { return func(c *config) { c.flat = true } }

// DropLast makes [Dataset.Batches] leave out the last batch when it is
// smaller than the batch size. Other methods ignore it.
func DropLast() Option { return func(c *config) { c.dropLast = true } }
