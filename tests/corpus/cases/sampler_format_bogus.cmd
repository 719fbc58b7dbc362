./gmm8 -n 2 --format xml
