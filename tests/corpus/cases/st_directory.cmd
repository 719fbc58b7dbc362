mkdir -p adir && pmmc check graph_dir.yaml
