./gmm8 -n 2 --threads -1
