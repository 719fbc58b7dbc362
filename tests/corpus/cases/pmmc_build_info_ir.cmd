pmmc build gmm8.yaml --emit=ir --info
