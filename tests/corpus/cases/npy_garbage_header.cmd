pmmc predict moons/model.yaml --mu garbage_header.npy --time tau.npy -o out.npy
