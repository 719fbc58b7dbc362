pmmc check st_dtype.yaml
