"""Joint crops: the joint-crop cache (:mod:`ralib.patches.cache`) and the RAM-H1200 per-joint layout
(:mod:`ralib.patches.ramh1200`)."""

from ralib.patches.cache import CropCache, crop_cache, crop_caches
from ralib.patches.ramh1200 import read_ramh1200, write_ramh1200

__all__ = ["CropCache", "crop_cache", "crop_caches", "read_ramh1200", "write_ramh1200"]
