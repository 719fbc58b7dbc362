mkfifo f.npy && pmmc predict moons/model.yaml --mu f.npy --time tau.npy -o out.npy
