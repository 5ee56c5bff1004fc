//go:build kernelsim

#include "shim.h"

#include "../../index.cu"
