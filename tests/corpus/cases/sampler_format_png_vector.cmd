./gmm8 -n 2 --format png -o g.png
