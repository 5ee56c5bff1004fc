//go:build kernelsim

#include "shim.h"

#include "../../elementwise.cu"
