pmmc predict moons/model.yaml --mu shape_negative.npy --time tau.npy -o out.npy
