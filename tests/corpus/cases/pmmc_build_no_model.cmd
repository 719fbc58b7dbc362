pmmc build
