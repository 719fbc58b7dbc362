pmmc predict moons/model.yaml --mu no.npy --time tau.npy -o out.npy
