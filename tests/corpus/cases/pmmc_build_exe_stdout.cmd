pmmc build gmm8.yaml -o -
