EXTRA_DIST += models/gmm8/model.yaml
