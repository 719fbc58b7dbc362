./gmm8 -n -1
