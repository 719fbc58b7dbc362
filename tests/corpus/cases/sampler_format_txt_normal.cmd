./gmm8 -n 2 --format txt
