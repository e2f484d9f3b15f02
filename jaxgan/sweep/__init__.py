"""Sweeps: a grid of runs trained as few compiled programs (``jax.vmap`` over variants)."""
