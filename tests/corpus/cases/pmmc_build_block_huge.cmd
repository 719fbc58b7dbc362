pmmc build gmm8.yaml --block-size 70000
