"""Pure crypto layer (placeholder docstring, rewritten below)."""
