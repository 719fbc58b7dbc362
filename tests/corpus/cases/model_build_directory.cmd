mkdir -p adir && pmmc build adir -o x
