"""Features of real data sets (cached on disk) and of a model's samples, and the FID of a model.
"""

import hashlib
import os
import re
from typing import NamedTuple
from typing import Optional

import keras
import numpy as np

from kerasgen.data.batches import iter_images
from kerasgen.errors import DataError
from kerasgen.files import atomic_path
from kerasgen.metrics.distances import FeatureStatistics
from kerasgen.metrics.distances import frechet_distance



def default_cache_dir():
    """Where real-data features are cached: `$KERASGEN_CACHE`, else `~/.cache/kerasgen`, plus
    `/features`."""
    root = os.environ.get("KERASGEN_CACHE") or os.path.join("~", ".cache", "kerasgen")
    return os.path.join(os.path.expanduser(root), "features")


def cache_path(data_key, extractor, max_images=None, directory=None):
    """The `.npz` file that holds the features of the data set described by `data_key` (a
    string naming the source, path, split, size, ... that `extractor` sees) under `extractor`:
    keyed by both, by the extractor's weights (`extractor.fingerprint`) and by `max_images`, so
    that a different data set, extractor or count never reuses another's features."""
    readable = re.sub(r"[^A-Za-z0-9.=_-]+", "_", f"{data_key}-{extractor.name}").strip("_")[:100]
    digest = hashlib.sha1(
        f"{data_key}|{extractor.name}|{getattr(extractor, 'fingerprint', '')}|{max_images}".encode()
    ).hexdigest()[:12]
    return os.path.join(directory or default_cache_dir(), f"{readable}-{digest}.npz")


def _progress(total, verbose, what):
    if not verbose:
        return None
    print(f"kerasgen: {what}", flush=True)
    return keras.utils.Progbar(total, unit_name="image")


def real_features(data, extractor, max_images=None, cache=None, verbose=0):
    """Features `(n, d)` of the images of `data` under `extractor` (for KID and
    precision/recall, which need the features themselves).

    Args:
        data: images, a PyDataset, a tf.data.Dataset or an iterable of batches.
        extractor: a feature extractor from `kerasgen.features`.
        max_images: stop after this many images.
        cache: an `.npz` path (e.g. from `cache_path`): features saved there before are loaded
            instead; new ones are saved there.
        verbose: 1 shows a progress bar.
    """
    if cache is not None and os.path.exists(cache):
        with np.load(cache) as saved:
            return saved["features"]
    progress, features = _progress(max_images, verbose, f"{extractor.name} features of real images"), []
    for images in iter_images(data, max_images):
        features.append(extractor(images))
        if progress:
            progress.add(len(images))
    if not features:
        raise DataError("no real images to measure: the data set is empty.")
    features = np.concatenate(features)
    if cache is not None:
        with atomic_path(cache) as temporary, open(temporary, "wb") as f:
            np.savez(f, features=features)
    return features


def real_statistics(data, extractor, max_images=None, cache=None, verbose=0):
    """Streaming `FeatureStatistics` of the images of `data` under `extractor` (never holding
    all the features), for FID. `cache` and `verbose` as in `real_features` (the file holds the
    statistics)."""
    if cache is not None and os.path.exists(cache):
        return FeatureStatistics.load(cache)
    progress = _progress(max_images, verbose, f"{extractor.name} statistics of real images")
    stats = FeatureStatistics()
    for images in iter_images(data, max_images):
        stats.update(extractor(images))
        if progress:
            progress.add(len(images))
    if stats.count < 2:
        raise DataError(f"need at least 2 real images for statistics; received {stats.count}.")
    if cache is not None:
        stats.save(cache)
    return stats


def generated_features(model, extractor, n=10_000, seed=0, batch_size=250, statistics=False,
                       verbose=0, logits=False, use_ema=True):
    """Features of `n` images generated with latents drawn from `seed`, batch by batch: a
    `FeatureStatistics` with `statistics=True` (never holding all features), else `(n, d)`.
    With `logits=True` (an extractor with a classifier head, such as `FIDInception`), returns
    `(features, logits)` of the same images, for the Inception Score. `verbose=1` shows a
    progress bar. `use_ema=False` draws with the trained weights of a model that keeps an EMA
    (the averaged ones otherwise, as `generate`)."""
    measured = measure_generated(model, extractor, n, seed=seed, keep=0 if statistics else n,
                                 logits=logits, batch_size=batch_size, verbose=verbose,
                                 use_ema=use_ema)
    result = measured.statistics if statistics else measured.features
    return (result, measured.logits) if logits else result


def features_and_logits(extractor, images):
    """`(features, logits)` of `images`: in one pass where the extractor offers it."""
    if hasattr(extractor, "features_and_logits"):
        return extractor.features_and_logits(images)
    if not hasattr(extractor, "logits"):
        raise DataError(f"the {extractor.name} features have no classifier logits: the "
                        "Inception Score needs --features inception-2015.")
    return extractor(images), extractor.logits(images)


def fid(model, real, extractor, n=10_000, seed=0, batch_size=250, verbose=0):
    """Fréchet distance between the features of `n` generated images and `real` (a
    `FeatureStatistics`, e.g. from `real_statistics`). Report it with `extractor.name`: only
    `kerasgen.features.FIDInception` gives the FID of the papers."""
    fake = generated_features(model, extractor, n, seed, batch_size, statistics=True,
                              verbose=verbose)
    return frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)


class Measured(NamedTuple):
    """What one pass over a set of images gives: the `statistics` of all their features (for
    FID), the features of the first `keep` images (for KID, precision/recall, density/coverage)
    and, when asked, the classifier logits of all of them (for the Inception Score)."""

    statistics: FeatureStatistics
    features: np.ndarray
    logits: Optional[np.ndarray] = None


def measure_real(data, extractor, max_images=None, keep=10_000, cache=None, verbose=0):
    """One pass over the real images of `data` (up to `max_images`): a `Measured` without
    logits. `cache`: an `.npz` path (e.g. from `cache_path`) that holds the statistics and kept
    features of an earlier pass, else gets them."""
    if cache is not None and os.path.exists(cache):
        with np.load(cache) as saved:
            if "m2" in saved and "features" in saved:
                return Measured(FeatureStatistics.from_arrays(saved["count"], saved["mean"],
                                                              saved["m2"]), saved["features"])
    stats, kept = FeatureStatistics(), []
    progress = _progress(max_images, verbose, f"{extractor.name} features of real images")
    for images in iter_images(data, max_images):
        batch = extractor(images)
        stats.update(batch)
        kept.append(batch[: max(0, keep - sum(len(k) for k in kept))])
        if progress:
            progress.add(len(images))
    if stats.count < 2:
        raise DataError(f"need at least 2 real images for statistics; received {stats.count}.")
    kept = np.concatenate(kept)
    if cache is not None:
        with atomic_path(cache) as temporary, open(temporary, "wb") as f:
            np.savez(f, count=np.int64(stats.count), mean=stats.mean, m2=stats.m2, features=kept)
    return Measured(stats, kept)


def measure_generated(model, extractor, n, seed=0, keep=10_000, logits=False, batch_size=250,
                      verbose=0, use_ema=True):
    """One pass over `n` images generated from `seed` (as `generated_features` draws them): a
    `Measured`, with the logits of every image when `logits=True`; `use_ema` as `generate`."""
    stats, kept, heads = FeatureStatistics(), [], []
    progress = _progress(n, verbose, f"{extractor.name} features of {n} generated images")
    latents = model.sample_latents(n, seed)
    for start in range(0, n, batch_size):
        batch_seed = None if seed is None else seed + start
        images = model.generate(latents=latents[start : start + batch_size], seed=batch_seed,
                                **({} if use_ema else {"use_ema": False}))
        if logits:
            batch, head = features_and_logits(extractor, images)
            heads.append(np.asarray(head, "float32"))
        else:
            batch = extractor(images)
        stats.update(batch)
        kept.append(batch[: max(0, keep - start)])
        if progress:
            progress.add(len(batch))
    return Measured(stats, np.concatenate(kept), np.concatenate(heads) if logits else None)


def load_reference_statistics(path):
    """Published reference statistics (TTUR's and clean-fid's `.npz` files with `mu` and
    `sigma`) as `(mu, sigma)`; a one-line DataError for a file that is not such a file."""
    if not os.path.isfile(path):
        raise DataError(f"no reference statistics file at {path}")
    try:
        with np.load(path) as saved:
            mu, sigma = np.asarray(saved["mu"], "float64"), np.asarray(saved["sigma"], "float64")
    except Exception as e:  # not an npz, or no mu/sigma
        raise DataError(f"{path} is not an .npz file with 'mu' and 'sigma' arrays "
                        f"({type(e).__name__}: {e})") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise DataError(f"{path}: mu must be (d,) and sigma (d, d); found {mu.shape} and "
                        f"{sigma.shape}")
    return mu, sigma
