//go:build kernelsim

#include "shim.h"

#include "../../random.cu"
