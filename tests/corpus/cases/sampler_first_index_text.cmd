./gmm8 -n 2 --first-index x
