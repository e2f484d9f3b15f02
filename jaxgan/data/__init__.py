"""Input pipelines. ``toy`` holds the low-dimensional distributions."""
