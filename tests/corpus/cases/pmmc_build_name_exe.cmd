pmmc build gmm8.yaml --name g
