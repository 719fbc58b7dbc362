pmmc predict moons/model.yaml --mu header_lies.npy --time tau.npy -o out.npy
