"""The choices that involve linkage and batches: which pattern a received message follows, and which
deliverer takes a leased delivery. Both build on ``linkage``; neither imports the other."""
