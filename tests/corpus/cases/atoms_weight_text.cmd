pmmc check atoms_weight_text.yaml
