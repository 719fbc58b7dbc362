pmmc check st_empty.yaml
