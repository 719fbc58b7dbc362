pmmc check st_offsets.yaml
