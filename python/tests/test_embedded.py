"""pmm.Sampler: a model pmmc compiled as a shared library (--emit=shared) reproduces the sampler
executable built with --gemm=llvm bit for bit, for any split of the range and any thread count;
decode() prints what `--format txt` prints; predict() of a graph model equals `pmmc predict`
within 1e-5 (1 + |ref|); every failure raises (SamplerError with the library's status, or
ValueError before the library is called). Needs pmmc ($PMMC, else build/pmmc; skipped without).

    PYTHONPATH=python /usr/bin/python3 -m pytest -q python/tests/test_embedded.py
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pmm

ROOT = Path(__file__).resolve().parents[2]
N, SEED, FIRST = 150, 7, 37  # crosses blocks of 64 samples; FIRST is not a block's start
ERR_RANGE, ERR_VERSION = 2, 5


@pytest.fixture(scope="module")
def built(tmp_path_factory, pmmc):
    """Shared libraries of gmm8, words50 and two-moons; executables and their samples of gmm8
    and words50."""
    d = tmp_path_factory.mktemp("embedded")
    for m in ("gmm8", "words50", "two-moons"):
        subprocess.run([pmmc, "build", ROOT / "models" / m / "model.yaml", "--emit=shared",
                        "-o", d], check=True)
    for m in ("gmm8", "words50"):
        subprocess.run([pmmc, "build", ROOT / "models" / m / "model.yaml", "--gemm=llvm",
                        "-o", d / f"exe-{m}"], check=True)
        subprocess.run([d / f"exe-{m}", "-n", str(N), "-s", str(SEED), "--first-index",
                        str(FIRST), "-o", d / f"{m}.npy"], check=True)
    return d


@pytest.mark.parametrize("model", ["gmm8", "words50"])
def test_sample_equals_executable(built, model):
    want = np.load(built / f"{model}.npy")
    with pmm.Sampler(built / f"lib{model}.so") as s:
        assert s.info["name"] == model and s.info["shape"] == want.shape[1:]
        got = s.sample(N, seed=SEED, first_index=FIRST)
        assert got.dtype == np.float32 and np.array_equal(got, want)
        assert np.array_equal(s.sample(N, SEED, FIRST, threads=1), want)
        split = [s.sample(40, SEED, FIRST, threads=3), s.sample(N - 40, SEED, FIRST + 40)]
        assert np.array_equal(np.concatenate(split), want)
        assert not np.array_equal(s.sample(N, SEED + 1, FIRST), want)
        assert s.sample(0, SEED).shape == (0, *want.shape[1:])


def test_decode_equals_format_txt(built):
    text = subprocess.run([built / "exe-words50", "-n", str(N), "-s", str(SEED),
                           "--first-index", str(FIRST), "--format", "txt"], check=True,
                          capture_output=True, text=True).stdout
    with pmm.Sampler(built / "libwords50.so.1") as s:
        assert s.name == "words50"
        assert s.info["vocab"] == "_abcdefghijklmnopqrstuvwxyz" and s.info["pad_symbol"] == 0
        assert s.decode(s.sample(N, SEED, FIRST)) == text.splitlines()
        with pytest.raises(ValueError, match="not symbol indices"):
            s.decode(np.full((1, 8), 0.5, dtype=np.float32))


def test_info_matches_the_header(built):
    header = (built / "gmm8.h").read_text()
    with pmm.Sampler(built / "libgmm8.so") as s:
        info = s.info
    assert f'#define GMM8_BUILD_ID "{info["build_id"]}"' in header
    assert f'#define GMM8_WORKSPACE_BYTES UINT64_C({info["workspace_bytes"]})' in header
    assert info["pair"] == "normal-normal" and info["vocab"] is None
    assert info["sample_elems"] == 2 and info["predict_in_elems"] == 0


def test_predict_equals_pmmc_predict(built, pmmc, tmp_path):
    rng = np.random.default_rng(12345)
    mu = rng.uniform(-2, 2, size=(100, 2)).astype(np.float32)
    tau = (np.arange(100) / 100).astype(np.float32)
    np.save(tmp_path / "mu.npy", mu)
    np.save(tmp_path / "tau.npy", tau)
    subprocess.run([pmmc, "predict", ROOT / "models" / "two-moons" / "model.yaml", "--mu",
                    tmp_path / "mu.npy", "--time", tmp_path / "tau.npy", "-o",
                    tmp_path / "ref.npy"], check=True)
    ref = np.load(tmp_path / "ref.npy")
    with pmm.Sampler(built / "libtwo_moons.so") as s:
        got = s.predict(mu, tau)
        assert got.shape == ref.shape == (100, 2) and got.dtype == np.float32
        assert np.all(np.abs(got - ref) <= 1e-5 * (1 + np.abs(ref)))
        assert np.array_equal(s.predict(mu[:3].astype(np.float64), tau[:3, None]), got[:3])
        with pytest.raises(ValueError, match="2 floats a row"):
            s.predict(mu[:, :1], tau)
        with pytest.raises(ValueError, match="tau of 99"):
            s.predict(mu, tau[:99])


def test_another_api_version_is_refused(built, monkeypatch):
    monkeypatch.setattr(pmm.embedded, "API_VERSION", pmm.embedded.API_VERSION + 1)
    with pytest.raises(pmm.SamplerError, match="gmm8_open: .*different API versions") as e:
        pmm.Sampler(built / "libgmm8.so")
    assert e.value.status == ERR_VERSION


def test_errors_raise(built, tmp_path):
    s = pmm.Sampler(built / "libgmm8.so")
    with pytest.raises(pmm.SamplerError, match="gmm8_predict: the model has no network") as e:
        s.predict(np.zeros((1, 2)), np.zeros(1))
    assert e.value.status == pmm.embedded.ERR_UNSUPPORTED
    with pytest.raises(pmm.SamplerError, match="gmm8_sample_mt: sample range out of bounds") as e:
        s.sample(10, first_index=2**64 - 5)
    assert e.value.status == ERR_RANGE
    for kwargs in ({"n": -1}, {"n": 1, "seed": 2**64}, {"n": 1, "threads": -1}, {"n": 1.5}):
        with pytest.raises(ValueError, match="must be an integer"):
            s.sample(**kwargs)
    with pytest.raises(ValueError, match="no vocabulary"):
        s.decode(s.sample(1))
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.sample(1)

    with pmm.Sampler(built / "libgmm8.so") as s:
        pass
    with pytest.raises(ValueError, match="closed"):
        s.predict(np.zeros((1, 2)), np.zeros(1))

    renamed = tmp_path / "gmm8-model.so"
    shutil.copy(built / "libgmm8.so.1", renamed)
    with pytest.raises(ValueError, match="pass name="):
        pmm.Sampler(renamed)
    with pmm.Sampler(renamed, name="gmm8") as s:
        assert s.sample(2, SEED, FIRST).tobytes() == np.load(built / "gmm8.npy")[:2].tobytes()
    with pytest.raises(ValueError, match="has no function words50_open"):
        pmm.Sampler(built / "libgmm8.so", name="words50")
    with pytest.raises(OSError):
        pmm.Sampler(tmp_path / "libnothing.so")


def test_external_weights(built, pmmc, tmp_path):
    """A library built with --weights=external samples what the embedded one does, given its
    NAME.weights; without it, opening fails with ERR_WEIGHTS."""
    subprocess.run([pmmc, "build", ROOT / "models" / "two-moons" / "model.yaml", "--emit=shared",
                    "--weights=external", "-o", tmp_path], check=True)
    with pmm.Sampler(built / "libtwo_moons.so") as s:
        want = s.sample(N, SEED, FIRST)
    with pmm.Sampler(tmp_path / "libtwo_moons.so", weights=tmp_path / "two_moons.weights") as s:
        assert np.array_equal(s.sample(N, SEED, FIRST), want)
    with pytest.raises(pmm.SamplerError, match="--weights=external") as e:
        pmm.Sampler(tmp_path / "libtwo_moons.so")
    assert e.value.status == 9
