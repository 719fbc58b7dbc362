pmmc predict moons/model.yaml --mu no_shape.npy --time tau.npy -o out.npy
