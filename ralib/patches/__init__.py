"""Joint crops: the joint-crop cache (:mod:`ralib.patches.cache`), the RAM-H1200 per-joint layout
(:mod:`ralib.patches.ramh1200`) and bags of a film's crops in anatomical order (:mod:`ralib.patches.bags`)."""

from ralib.patches.bags import bag_places, gather, joint_bags
from ralib.patches.cache import CropCache, crop_cache, crop_caches, predicted_landmarks
from ralib.patches.ramh1200 import read_ramh1200, write_ramh1200

__all__ = ["CropCache", "bag_places", "crop_cache", "crop_caches", "gather", "joint_bags", "predicted_landmarks",
           "read_ramh1200", "write_ramh1200"]
