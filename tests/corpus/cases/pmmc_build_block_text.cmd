pmmc build gmm8.yaml --block-size many
