pmmc check st_inf.yaml
