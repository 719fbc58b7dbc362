pmmc build gmm8.yaml --frob
