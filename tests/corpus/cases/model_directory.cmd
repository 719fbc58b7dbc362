mkdir -p adir && pmmc check adir
