pmmc check atoms_two_tabs.yaml
