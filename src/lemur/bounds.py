"""Upper bounds of the integers Lemur accepts, shared by the API schemas, the settings and
the CLI's options, so that a number too large for a date or a column is refused as invalid
input (422, exit 3) instead of overflowing later (a ``timedelta`` of 10**11 days is an
OverflowError: a 500, or a traceback)."""

MAX_TOKEN_LIFETIME_DAYS = 3650
MAX_VALIDITY_DAYS = 3650  # a certificate; an authority's default and maximum for its leaves
MAX_DAYS_AHEAD = 3650  # how far ahead an expiry search may look
MAX_CA_VALIDITY_DAYS = 36500
MAX_PATH_LENGTH = 10
MAX_WORKERS = 64
MAX_PORT = 65535
