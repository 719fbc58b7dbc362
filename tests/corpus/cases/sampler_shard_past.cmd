./gmm8 -n 9 --shard 4/3
