pmmc build gmm8.yaml --gemm=mkl
