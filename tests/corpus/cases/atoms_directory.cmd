mkdir -p adir && pmmc check atoms_dir.yaml
