pmmc check st_truncated.yaml
