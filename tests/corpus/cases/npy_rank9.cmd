pmmc predict moons/model.yaml --mu rank9.npy --time tau.npy -o out.npy
