"""Keras models from config specs, and bn_study's own layers."""
