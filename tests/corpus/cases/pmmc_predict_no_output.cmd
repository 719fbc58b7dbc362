pmmc predict moons/model.yaml --mu mu.npy --time tau.npy
