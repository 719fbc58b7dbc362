mkdir -p adir.npy && ./gmm8 -n 2 -o adir.npy
