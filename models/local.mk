EXTRA_DIST += models/gmm8/model.yaml \
	models/gmm8-heun/model.yaml \
	models/counts5/model.yaml models/counts5/atoms.npy models/counts5/atom_weights.npy \
	models/words50/model.yaml models/words50/words.txt
