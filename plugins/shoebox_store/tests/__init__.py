"""The shoebox-store tests (a package, so its conftest never shadows the core tests' own)."""
