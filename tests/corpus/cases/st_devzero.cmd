pmmc check graph_devzero.yaml
