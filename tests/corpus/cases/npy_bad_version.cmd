pmmc predict moons/model.yaml --mu bad_version.npy --time tau.npy -o out.npy
