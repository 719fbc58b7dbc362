pmmc check st_shape_overflow.yaml
