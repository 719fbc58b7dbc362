pmmc build gmm8.yaml --target nonsense-unknown-none -o x
