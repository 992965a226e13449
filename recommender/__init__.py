"""journeyrec's application layer: the kernel (contract, errors, config), I/O, the pipeline, and the optimizer."""
