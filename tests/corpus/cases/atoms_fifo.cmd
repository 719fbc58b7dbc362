mkfifo fifo.txt && pmmc check atoms_fifo.yaml
