"""Reliability scenarios that return their figures: the tests run them small, bench/reliability.py long."""
