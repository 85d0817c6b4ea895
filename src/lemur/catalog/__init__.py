"""The plugin catalog: what is installed, with option schemas and load errors."""
