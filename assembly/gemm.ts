// (being written) gemm kernels
