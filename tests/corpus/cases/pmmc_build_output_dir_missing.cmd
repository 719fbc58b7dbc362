pmmc build gmm8.yaml -o no/such/dir/gmm8
