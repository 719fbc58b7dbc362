pmmc check st_header_lies.yaml
