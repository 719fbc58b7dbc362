mkfifo m.yaml && pmmc check m.yaml
