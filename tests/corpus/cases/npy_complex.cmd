pmmc predict moons/model.yaml --mu complex.npy --time tau.npy -o out.npy
