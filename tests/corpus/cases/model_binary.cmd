pmmc check mu.npy
