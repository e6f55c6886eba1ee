"""Data sets: fetched offline, verified by checksum, split as Keras splits them."""
