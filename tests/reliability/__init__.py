"""Cross-cutting reliability and security tests: injection, faults, bad input, load."""
