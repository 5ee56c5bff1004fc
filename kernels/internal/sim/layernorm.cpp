//go:build kernelsim

#include "shim.h"

#include "../../layernorm.cu"
