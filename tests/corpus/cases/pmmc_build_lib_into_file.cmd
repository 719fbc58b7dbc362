touch afile && pmmc build gmm8.yaml --emit=lib -o afile
