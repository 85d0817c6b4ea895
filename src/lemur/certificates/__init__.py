"""The certificate inventory: issuance, import, search, export, revocation, renewal."""
