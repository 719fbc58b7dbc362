./gmm8 --frob
