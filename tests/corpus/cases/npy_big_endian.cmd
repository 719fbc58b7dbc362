pmmc predict moons/model.yaml --mu big_endian.npy --time tau.npy -o out.npy
