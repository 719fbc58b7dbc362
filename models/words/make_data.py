"""The words data: lowercase a-z words of 3 to 10 letters of Debian's wamerican word list,
split 90% / 10% into training and held-out words.

    /usr/bin/python3 models/words/make_data.py --out-dir DIR

writes DIR/train.txt and DIR/heldout.txt (one word a line) from
/usr/share/dict/american-english (--dict): the distinct words matching ^[a-z]{3,10}$,
shuffled with --seed, the first 10% (rounded down) held out.
"""
import argparse
import random
import re
from pathlib import Path

WORD = re.compile(r"[a-z]{3,10}")


def split_words(dictionary, seed, heldout_share=0.1):
    text = Path(dictionary).read_text(encoding="utf-8")
    words = sorted({w for w in text.split("\n") if WORD.fullmatch(w)})
    random.Random(seed).shuffle(words)
    cut = int(len(words) * heldout_share)
    return words[cut:], words[:cut]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dict", default="/usr/share/dict/american-english",
                        help="word list, one a line (Debian package wamerican)")
    parser.add_argument("--seed", type=int, default=1, help="shuffle seed (default 1)")
    parser.add_argument("--out-dir", required=True, help="folder for train.txt, heldout.txt")
    args = parser.parse_args()
    if not Path(args.dict).exists():
        parser.error(f"{args.dict}: no such file (sudo apt-get install wamerican)")
    train, heldout = split_words(args.dict, args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(w + "\n" for w in train))
    (out / "heldout.txt").write_text("".join(w + "\n" for w in heldout))
    print(f"{len(train)} training and {len(heldout)} held-out words in {out}")


if __name__ == "__main__":
    main()
