./gmm8 -n 9 --shard half
