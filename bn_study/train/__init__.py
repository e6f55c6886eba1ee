"""One run: Keras compile/fit with callbacks, into a self-explaining run folder."""
