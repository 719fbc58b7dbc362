./gmm8 -n 2 -o x.parquet
