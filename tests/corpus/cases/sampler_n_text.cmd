./gmm8 -n ten
