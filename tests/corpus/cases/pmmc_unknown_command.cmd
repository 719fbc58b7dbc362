pmmc frobnicate gmm8.yaml
