pmmc build gmm8.yaml gmm8.yaml
