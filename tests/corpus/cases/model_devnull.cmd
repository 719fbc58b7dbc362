pmmc check /dev/null
