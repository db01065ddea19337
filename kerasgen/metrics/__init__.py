"""Measures of trained models, one module a job:

- `distances`: FID, KID, precision/recall, density/coverage between sets of features, and
  the Inception Score of logits (NumPy);
- `classifier`: the attribute classifier and attribute accuracy of conditional models;
- `reconstruction`: reconstruction MSE of models that encode;
- `cache`: features of real data (cached on disk) and of a model's samples, a model's FID.

The feature extractors that give the features are in `kerasgen.features`.
"""

from kerasgen.metrics.cache import cache_path
from kerasgen.metrics.cache import default_cache_dir
from kerasgen.metrics.cache import fid
from kerasgen.metrics.cache import generated_features
from kerasgen.metrics.cache import real_features
from kerasgen.metrics.cache import real_statistics
from kerasgen.metrics.classifier import AttributeClassifier
from kerasgen.metrics.classifier import attribute_accuracy
from kerasgen.metrics.distances import FeatureStatistics
from kerasgen.metrics.distances import density_coverage
from kerasgen.metrics.distances import feature_statistics
from kerasgen.metrics.distances import frechet_distance
from kerasgen.metrics.distances import inception_score
from kerasgen.metrics.distances import kernel_inception_distance
from kerasgen.metrics.distances import precision_recall
from kerasgen.metrics.distances import sample_quality
from kerasgen.metrics.reconstruction import reconstruction_mse

__all__ = [
    "AttributeClassifier", "FeatureStatistics", "attribute_accuracy", "cache_path",
    "default_cache_dir", "density_coverage", "feature_statistics", "fid", "frechet_distance",
    "generated_features", "inception_score", "kernel_inception_distance", "precision_recall",
    "real_features", "real_statistics", "reconstruction_mse", "sample_quality",
]
