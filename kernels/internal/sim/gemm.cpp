//go:build kernelsim

#include "shim.h"

#include "../../gemm.cu"
