pmmc build gmm8.yaml -O9
