pmmc predict moons/model.yaml --mu /dev/zero --time tau.npy -o out.npy
