pmmc check gmm8.yaml extra
