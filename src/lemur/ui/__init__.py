"""Server-rendered pages (Jinja2), built on the same services as the API."""
