"""Impact estimation: per-stage journey models chained through an absorbing Markov chain."""
