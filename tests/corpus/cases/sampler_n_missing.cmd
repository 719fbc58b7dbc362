./gmm8 -n
