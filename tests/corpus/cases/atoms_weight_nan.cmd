pmmc check atoms_weight_nan.yaml
