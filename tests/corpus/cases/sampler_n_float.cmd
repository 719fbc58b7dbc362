./gmm8 -n 1e3
