pmmc predict gmm8.yaml --mu mu.npy --time tau.npy -o out.npy
