// (being written) lut kernels
