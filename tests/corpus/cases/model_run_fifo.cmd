mkfifo m.yaml && pmmc run m.yaml -n 1
