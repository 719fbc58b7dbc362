pmmc predict moons/model.yaml --mu object.npy --time tau.npy -o out.npy
