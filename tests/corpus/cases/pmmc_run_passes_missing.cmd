pmmc run gmm8.yaml --passes
