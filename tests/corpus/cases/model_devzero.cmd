pmmc check /dev/zero
