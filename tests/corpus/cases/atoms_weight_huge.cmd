pmmc check atoms_weight_huge.yaml
