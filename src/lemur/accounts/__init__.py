"""Users, teams, roles, API tokens, browser sessions and login throttling."""
