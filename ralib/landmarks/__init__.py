"""Finding the 37 landmarks of each hand: heatmap targets and their decoding
(:mod:`ralib.landmarks.heatmaps`), the coarse-to-fine localiser (:mod:`ralib.landmarks.localiser`), the
films it must not be fooled by (:mod:`ralib.landmarks.robustness`) and whole folders of unlabelled films
located (:mod:`ralib.landmarks.films`)."""
