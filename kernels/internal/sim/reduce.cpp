//go:build kernelsim

#include "shim.h"

#include "../../reduce.cu"
