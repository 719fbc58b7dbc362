pmmc predict moons/model.yaml --mu shape_huge.npy --time tau.npy -o out.npy
