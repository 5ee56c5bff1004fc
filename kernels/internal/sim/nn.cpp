//go:build kernelsim

#include "shim.h"

#include "../../nn.cu"
