pmmc predict moons/model.yaml --mu mu.npy --time tau_rows.npy -o out.npy
