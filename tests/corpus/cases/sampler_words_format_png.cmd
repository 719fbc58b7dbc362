./words50 -n 2 --format png -o w.png
