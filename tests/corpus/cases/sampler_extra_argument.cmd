./gmm8 -n 2 extra
