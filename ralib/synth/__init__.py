"""SynthRA: the synthetic world of dual-hand radiographs with exact joint-level ground truth.

- :mod:`~ralib.synth.skeleton`: bones, joints and landmarks of a posed hand (mm);
- :mod:`~ralib.synth.disease`: patients, severity and per-site damage, calibrated on real labels;
- :mod:`~ralib.synth.render`: X-ray-like attenuation and acquisition;
- :mod:`~ralib.synth.world`: one radiograph with every label;
- :mod:`~ralib.synth.children`: children's hands with a bone age, for pretraining;
- :mod:`~ralib.synth.readers`: simulated image-level readers and joint-level experts;
- :mod:`~ralib.synth.dataset`: the data set on disk (``make_dataset``).

Example:
    >>> from ralib.synth import radiograph
    >>> film = radiograph(seed=1, image_size=128)  # 128 px across a 43-cm cassette, the spacing up to 15 % finer
    >>> 128 <= film.image.shape[1] <= 128 / 0.85
    True
"""

from ralib.synth.children import child_radiograph
from ralib.synth.dataset import ChildConfig, SynthConfig, load_tables, make_dataset, read_image
from ralib.synth.world import Sample, radiograph

__all__ = ["SynthConfig", "ChildConfig", "child_radiograph", "make_dataset", "load_tables", "read_image", "radiograph", "Sample"]
