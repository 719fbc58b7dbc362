pmmc run gmm8.yaml --block-size=x
