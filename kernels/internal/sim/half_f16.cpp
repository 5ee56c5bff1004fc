//go:build kernelsim

#include "shim.h"

#include "../../half_f16.cu"
