pmmc check st_bad_json.yaml
