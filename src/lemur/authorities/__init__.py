"""Certificate authorities: local CAs whose keys Lemur holds, and imported external CAs."""
