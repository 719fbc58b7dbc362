pmmc predict moons/model.yaml --mu bad_magic.npy --time tau.npy -o out.npy
