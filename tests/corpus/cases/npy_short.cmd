pmmc predict moons/model.yaml --mu short.npy --time tau.npy -o out.npy
