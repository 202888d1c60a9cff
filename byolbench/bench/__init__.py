"""Benchmark matrices: presets, cell expansion, resumable runner, results store, reports."""
