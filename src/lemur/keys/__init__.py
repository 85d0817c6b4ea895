"""Key-ring bookkeeping: which keys the stored data needs, and rotation."""
