package cuda

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// scanColsMin is the number of lines from which a scan whose lines are
// adjacent in memory gives each line a thread (kernels.ScanCols) instead
// of a block: enough threads to keep the GPU busy, each reading next to
// its neighbours.
const scanColsMin = 1024

// CumSum writes the inclusive cumulative sums of src along axis to the
// dense dst (reverse: from the end). Lines that are adjacent in memory
// (a scan along an outer axis) and numerous are scanned by one thread
// each, sequentially, as the CPU backend does (the same bits); other
// scans take one block per line and a fixed tree over tiles of the line.
// Both are deterministic.
func (b *Backend) CumSum(dst, src device.Buffer, sl device.Layout, axis int, reverse bool) {
	n := sl.Shape[axis]
	total := sl.Size()
	if total == 0 {
		return
	}
	d, s := bufOf(dst), bufOf(src)
	dl := device.Contiguous(sl.Shape)
	var shape, ds, ss []int
	for i, k := range sl.Shape {
		if i != axis {
			shape, ds, ss = append(shape, k), append(ds, dl.Strides[i]), append(ss, sl.Strides[i])
		}
	}
	lines := int64(total / n)
	mode := kernels.ScanLines
	sh, v, err := strided(device.Layout{Shape: shape, Strides: ss, Offset: sl.Offset}, device.Layout{Shape: shape, Strides: ds})
	if err == nil && lines >= scanColsMin && v[0].Strides[sh.NDim-1] == 1 {
		mode = kernels.ScanCols
	}
	id := kCumSum[dtIndex(d.dt)][mode]
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	a := scanArgs{Dst: d.ptr, Src: s.ptr, Lines: lines, Len: int64(n), SStride: int64(sl.Strides[axis]),
		DStride: int64(dl.Strides[axis]), Shape: sh, VS: v[0], VD: v[1]}
	if reverse {
		a.Reverse = 1
	}
	p, sz := argBytes(&a)
	grid := groupGrid(lines, true)
	if mode == kernels.ScanCols {
		grid = grid1D(lines, 1)
	}
	b.launch(id, grid, block1D, p, sz)
}
