#!/usr/bin/python3
"""Measure the trained models with samples from their compiled samplers.

    /usr/bin/python3 models/evaluate.py [MODEL ...] --pmmc build/pmmc --work DIR

MODEL is two-moons, fashion, words or fashion-counts (default: all). Each model is
compiled with `pmmc build`, sampled with its native sampler (seed 1) and scored against
fresh or held-out data next to a reference figure; the results are printed as text and
written to DIR/evaluation.json. The data folders are those models/train-all writes
(DIR/words-data, DIR/counts-data); the figures are in docs/trained.md.

two-moons       energy distance of 5,000 samples to 5,000 fresh two-moons points; the noise
                floor is the same distance between two fresh sets (mean of 5 pairs).
fashion         FID (features of the classifier models/fashion/classifier.safetensors)
                between 10,000 samples and the 10,000 test images, next to the FID between
                10,000 training images and the test set; nearest training image of 1,000
                samples, next to that of 1,000 test images; a 64-sample PNG grid.
words           shares of 5,000 generated words that are dictionary words, held-out words
                and training words, next to those of a character-bigram model.
fashion-counts  energy distance of 10,000 samples to the 10,000 held-out count images, next
                to the training set's distance (the floor) and that of independent Poisson
                pixels with the training means (a baseline); mean per-pixel |mean| and |std|
                errors.
"""
import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE / "two-moons"))
from pmm import metrics  # noqa: E402
from make_data import two_moons  # noqa: E402

SEED = 1


REUSE = False  # --reuse-samples


def compiled_samples(pmmc, model, work, n, fmt="npy"):
    """n samples of models/MODEL from its compiled sampler, and samples/s of the draw (None
    when --reuse-samples found them drawn already)."""
    (work / "bin").mkdir(exist_ok=True)
    exe = work / "bin" / model
    out = work / f"{model}-samples.{fmt}"
    rate = None
    if not (REUSE and exe.exists() and out.exists()):
        subprocess.run([str(pmmc), "build", str(HERE / model / "model.yaml"), "-o", str(exe)],
                       check=True)
        started = time.monotonic()
        subprocess.run([str(exe), "-n", str(n), "--seed", str(SEED), "-o", str(out)],
                       check=True)
        rate = n / (time.monotonic() - started)
    if fmt == "txt":
        return out.read_text().split("\n")[:n], rate
    return np.load(out), rate


def two_moons_figures(pmmc, work):
    samples, rate = compiled_samples(pmmc, "two-moons", work, 5000)
    fresh = two_moons(5000, seed=1000)
    floor = [metrics.energy_distance(two_moons(5000, seed=2000 + i),
                                     two_moons(5000, seed=3000 + i)) for i in range(5)]
    return {"energy_distance": metrics.energy_distance(samples, fresh),
            "noise_floor_mean": float(np.mean(floor)), "noise_floor_max": float(np.max(floor)),
            "samples_per_s": rate}


def fashion_figures(pmmc, work):
    from pmm.fid import fashion, load_classifier
    train_x, _ = fashion("train")
    test_x, test_y = fashion("test")
    samples, rate = compiled_samples(pmmc, "fashion", work, 10000)
    net = load_classifier(HERE / "fashion" / "classifier.safetensors")
    test_f = net.features(test_x)
    train_sub = train_x[np.random.default_rng(SEED).choice(len(train_x), 10000, replace=False)]
    grid = HERE.parent / "docs" / "fashion-samples.png"
    exe = work / "bin" / "fashion"
    subprocess.run([str(exe), "-n", "64", "--seed", str(SEED), "-o", str(grid)], check=True)
    near_samples = metrics.nearest_distances(samples[:1000], train_x)
    near_test = metrics.nearest_distances(test_x[:1000], train_x)
    return {"fid": metrics.frechet_distance(net.features(samples), test_f),
            "fid_train_vs_test": metrics.frechet_distance(net.features(train_sub), test_f),
            "classifier_test_accuracy": float(net.accuracy(test_x, test_y)),
            "nearest_train_samples_median": float(np.median(near_samples)),
            "nearest_train_samples_min": float(near_samples.min()),
            "nearest_train_test_median": float(np.median(near_test)),
            "nearest_train_test_min": float(near_test.min()),
            "samples_per_s": rate, "grid": str(grid.relative_to(HERE.parent))}


def bigram_counts(train):
    """How often each symbol follows each other in `train` ('^' starts, '$' ends a word)."""
    return Counter((a, b) for w in train for a, b in zip("^" + w, w + "$"))


def bigram_words(train, n, seed, lengths=(3, 10)):
    """n words from a character-bigram model of `train`, drawn again until their length is
    within `lengths`, as the data's are."""
    pairs = bigram_counts(train)
    following = {}
    for (a, b), count in pairs.items():
        following.setdefault(a, []).append((b, count))
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        word, last = "", "^"
        while len(word) <= lengths[1]:
            symbols, counts = zip(*following[last])
            last = symbols[rng.choice(len(symbols), p=np.array(counts) / sum(counts))]
            if last == "$":
                break
            word += last
        if lengths[0] <= len(word) <= lengths[1]:
            out.append(word)
    return out


def shares(words, train, heldout):
    n = len(words)
    in_train = sum(w in train for w in words)
    in_heldout = sum(w in heldout for w in words)
    return {"dictionary": (in_train + in_heldout) / n, "heldout": in_heldout / n,
            "train": in_train / n, "distinct": len(set(words)) / n}


def bigram_nats(train, words):
    """Mean -ln p(word) of a character-bigram model of `train`, add-one smoothed over the
    27 symbols that may follow a letter."""
    pairs = bigram_counts(train)
    starts = Counter(a for w in train for a in "^" + w)
    total = 0.0
    for w in words:
        total -= sum(np.log((pairs[(a, b)] + 1) / (starts[a] + 27)) for a, b in zip("^" + w, w + "$"))
    return total / len(words)


def pmm_bound_nats(yaml_path, words, draws=16, seed=SEED):
    """Monte Carlo estimate (mean, standard error) of the chain's bound on -ln p(word),
    sum_t alpha_{t+1} KL(theta* || thetahat) = T E_t[elbo-weighted loss], over `words`."""
    import torch
    import pmm
    from pmm.data import encode_lines
    from pmm.objective import Objective
    chain = pmm.Chain.from_yaml(yaml_path)
    net = pmm.load(yaml_path)
    vocab = pmm.spec.read_yaml(yaml_path)["data"]["vocab"]
    objective = Objective(chain, "elbo")
    x, skipped = encode_lines(words, vocab, chain.data_shape[0], padding=True)
    if skipped:
        raise ValueError(f"{skipped} word(s) do not fit {yaml_path}")
    x = torch.from_numpy(x)
    generator = torch.Generator().manual_seed(seed)
    per_word = torch.zeros(len(x), dtype=torch.float64)
    with torch.no_grad():
        for _ in range(draws):
            t = objective.draw_t(len(x), generator)
            mu = objective.draw_mu(x, t, generator)
            d = objective.divergence(net(mu, objective.tau[t]), x) * objective.alpha_next[t]
            per_word += d.double() * chain.steps / draws
    return per_word.mean().item(), (per_word.std() / len(x) ** 0.5).item()


def words_figures(pmmc, work):
    data = work / "words-data"
    train_list = (data / "train.txt").read_text().split()
    train = set(train_list)
    heldout_list = (data / "heldout.txt").read_text().split()
    heldout = set(heldout_list)
    words, rate = compiled_samples(pmmc, "words", work, 5000, fmt="txt")
    rng = np.random.default_rng(SEED)
    some_train = list(rng.choice(train_list, 2000, replace=False))
    some_heldout = list(rng.choice(heldout_list, 2000, replace=False))
    yaml_path = HERE / "words" / "model.yaml"
    return {"model": shares(words, train, heldout),
            "bigram": shares(bigram_words(sorted(train), 5000, SEED), train, heldout),
            "heldout_share_of_dictionary": len(heldout) / (len(train) + len(heldout)),
            "nats_per_word": {
                "model_bound_heldout": pmm_bound_nats(yaml_path, some_heldout),
                "model_bound_train": pmm_bound_nats(yaml_path, some_train),
                "bigram_heldout": bigram_nats(train_list, some_heldout),
                "bigram_train": bigram_nats(train_list, some_train)},
            "examples": words[:20], "samples_per_s": rate}


def counts_figures(pmmc, work):
    data = work / "counts-data"
    train, test = np.load(data / "train.npy"), np.load(data / "test.npy")
    samples, rate = compiled_samples(pmmc, "fashion-counts", work, 10000)
    rng = np.random.default_rng(SEED)
    train_sub = train[rng.choice(len(train), 10000, replace=False)]
    independent = rng.poisson(train.mean(0), (10000, *train.shape[1:])).astype(np.float32)
    return {"energy_distance": metrics.energy_distance(samples, test),
            "energy_distance_train_vs_test": metrics.energy_distance(train_sub, test),
            "energy_distance_independent_poisson": metrics.energy_distance(independent, test),
            "pixel_mean_abs_error": float(np.abs(samples.mean(0) - test.mean(0)).mean()),
            "pixel_std_abs_error": float(np.abs(samples.std(0) - test.std(0)).mean()),
            "samples_per_s": rate}


MODELS = {"two-moons": two_moons_figures, "fashion": fashion_figures,
          "words": words_figures, "fashion-counts": counts_figures}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"{', '.join(MODELS)} (default: all)")
    parser.add_argument("--pmmc", default=str(HERE.parent / "build" / "pmmc"))
    parser.add_argument("--work", required=True, help="folder of models/train-all's data")
    parser.add_argument("--reuse-samples", action="store_true",
                        help="score the samples an earlier run left in the folder")
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse_samples
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}, expected {', '.join(MODELS)}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "evaluation.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for model in args.models or MODELS:
        started = time.monotonic()
        results[model] = MODELS[model](args.pmmc, work)
        results[model]["evaluation_s"] = round(time.monotonic() - started, 1)
        print(f"{model}: {json.dumps(results[model], indent=1)}", flush=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
