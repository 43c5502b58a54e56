"""The metrics core: pure NumPy, no I/O, states of sums and counts that merge exactly."""
