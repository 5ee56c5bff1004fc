package distributed_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/distributed"
)

// How ReduceScatter splits a tensor of 10 elements over 4 ranks.
func ExampleShardSizes() {
	fmt.Println(distributed.ShardSizes(10, 4))
	// Output: [3 3 2 2]
}
