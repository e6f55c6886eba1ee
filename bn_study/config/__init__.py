"""Configs and experiment specs: YAML in, validated frozen dataclasses out."""
