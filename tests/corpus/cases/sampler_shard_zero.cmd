./gmm8 -n 9 --shard 1/0
