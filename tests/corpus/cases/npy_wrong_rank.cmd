pmmc predict moons/model.yaml --mu wrong_rank.npy --time tau.npy -o out.npy
