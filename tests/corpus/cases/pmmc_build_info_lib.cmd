pmmc build gmm8.yaml --emit=lib --info -o lib
