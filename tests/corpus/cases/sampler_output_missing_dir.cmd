./gmm8 -n 2 -o no/such/dir/x.npy
