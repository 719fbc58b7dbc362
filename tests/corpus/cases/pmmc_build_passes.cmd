pmmc build gmm8.yaml --passes=fold,
