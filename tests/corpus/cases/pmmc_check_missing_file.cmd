pmmc check no_such.yaml
