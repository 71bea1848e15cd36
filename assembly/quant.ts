// (being written) quant kernels
