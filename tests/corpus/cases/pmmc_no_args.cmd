pmmc
