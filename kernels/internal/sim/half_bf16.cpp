//go:build kernelsim

#include "shim.h"

#include "../../half_bf16.cu"
