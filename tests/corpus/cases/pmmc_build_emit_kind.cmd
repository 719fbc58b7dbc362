pmmc build gmm8.yaml --emit=dll
