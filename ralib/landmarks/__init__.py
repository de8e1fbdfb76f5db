"""Finding the 37 landmarks of each hand: heatmap targets and their decoding
(:mod:`ralib.landmarks.heatmaps`), the films as the landmark model sees them
(:mod:`ralib.landmarks.inputs`) and the coarse-to-fine localiser (:mod:`ralib.landmarks.localiser`)."""
