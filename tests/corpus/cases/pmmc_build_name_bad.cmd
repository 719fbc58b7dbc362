pmmc build gmm8.yaml --emit=lib --name 1abc -o lib
