// (being written) softmax kernels
