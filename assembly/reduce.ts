// (being written) reduce kernels
