mkfifo fifo.safetensors && pmmc check graph_fifo.yaml
