pmmc predict moons/model.yaml --mu fortran.npy --time tau.npy -o out.npy
