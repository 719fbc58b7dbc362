./gmm8 -n 2 -s seven
