pmmc check atoms_bad_utf8.yaml
