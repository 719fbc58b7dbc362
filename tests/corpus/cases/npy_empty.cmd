pmmc predict moons/model.yaml --mu empty.npy --time tau.npy -o out.npy
