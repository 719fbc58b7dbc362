EXTRA_DIST += models/gmm8/model.yaml \
	models/gmm8-heun/model.yaml \
	models/counts5/model.yaml models/counts5/atoms.npy models/counts5/atom_weights.npy \
	models/words50/model.yaml models/words50/words.txt
# The tensor networks of issue 7 (random weights; models/gen_tiny.py writes them).
EXTRA_DIST += models/unet-tiny/model.yaml models/unet-tiny/model.safetensors \
	models/dit-tiny/model.yaml models/dit-tiny/model.safetensors models/gen_tiny.py
# The trained models (python3 -m pmm.train; models/train-all retrains them, models/evaluate.py
# measures them).
EXTRA_DIST += models/two-moons/model.yaml models/two-moons/model.safetensors \
	models/two-moons/make_data.py \
	models/fashion/model.yaml models/fashion/model.safetensors \
	models/fashion/classifier.safetensors \
	models/words/model.yaml models/words/model.safetensors models/words/make_data.py \
	models/fashion-counts/model.yaml models/fashion-counts/model.safetensors \
	models/fashion-counts/make_data.py models/evaluate.py
dist_noinst_SCRIPTS += models/train-all
