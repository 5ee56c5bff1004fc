//go:build kernelsim

#include "shim.h"

#include "../../scan.cu"
