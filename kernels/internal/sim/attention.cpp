//go:build kernelsim

#include "shim.h"

#include "../../attention.cu"
