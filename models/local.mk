# The shipped models: each model.yaml and every file it names (weights, atoms), installed
# under $(pkgdatadir)/models/NAME/ so that `pmmc build` takes them from there
# (tests/install checks that every models/*/model.yaml is listed and checks out).
nobase_dist_pkgdata_DATA = models/gmm8/model.yaml \
	models/gmm8-heun/model.yaml \
	models/counts5/model.yaml models/counts5/atoms.npy models/counts5/atom_weights.npy \
	models/words50/model.yaml models/words50/words.txt \
	models/bench-mlp/model.yaml models/bench-mlp/model.safetensors
# The tensor networks of issue 7 (random weights; models/gen_tiny.py writes them).
nobase_dist_pkgdata_DATA += models/unet-tiny/model.yaml models/unet-tiny/model.safetensors \
	models/dit-tiny/model.yaml models/dit-tiny/model.safetensors
EXTRA_DIST += models/gen_tiny.py
# The trained models (python3 -m pmm.train; models/train-all retrains them, models/evaluate.py
# measures them, with fashion's classifier).
nobase_dist_pkgdata_DATA += models/two-moons/model.yaml models/two-moons/model.safetensors \
	models/fashion/model.yaml models/fashion/model.safetensors \
	models/words/model.yaml models/words/model.safetensors \
	models/fashion-counts/model.yaml models/fashion-counts/model.safetensors
EXTRA_DIST += models/two-moons/make_data.py models/fashion/classifier.safetensors \
	models/words/make_data.py models/fashion-counts/make_data.py models/evaluate.py
dist_noinst_SCRIPTS += models/train-all
