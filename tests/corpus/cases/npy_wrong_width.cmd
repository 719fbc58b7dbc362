pmmc predict moons/model.yaml --mu wrong_width.npy --time tau.npy -o out.npy
