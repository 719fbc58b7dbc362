pmmc check atoms_no_tab.yaml
