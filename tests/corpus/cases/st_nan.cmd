pmmc check st_nan.yaml
