pmmc check atoms_weight_negative.yaml
