pmmc build gmm8.yaml --dump-after=inline
