"""`make bench`: figures as ratios and request counts, measured in one run (never asserted in tests)."""
