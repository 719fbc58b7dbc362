mkdir -p adir && pmmc predict moons/model.yaml --mu adir --time tau.npy -o out.npy
