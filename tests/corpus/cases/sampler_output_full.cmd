./gmm8 -n 100000000 --format npy -o /dev/full
