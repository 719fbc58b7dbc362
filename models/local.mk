EXTRA_DIST += models/gmm8/model.yaml \
	models/gmm8-heun/model.yaml \
	models/counts5/model.yaml models/counts5/atoms.npy models/counts5/atom_weights.npy \
	models/words50/model.yaml models/words50/words.txt
# The tensor networks of issue 7 (random weights; models/gen_tiny.py writes them).
EXTRA_DIST += models/unet-tiny/model.yaml models/unet-tiny/model.safetensors \
	models/dit-tiny/model.yaml models/dit-tiny/model.safetensors models/gen_tiny.py
