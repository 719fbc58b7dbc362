pmmc predict moons/model.yaml --time tau.npy -o out.npy
