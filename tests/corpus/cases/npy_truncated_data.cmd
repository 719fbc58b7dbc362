pmmc predict moons/model.yaml --mu truncated_data.npy --time tau.npy -o out.npy
