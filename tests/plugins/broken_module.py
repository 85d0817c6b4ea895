"""A plugin module whose import fails, as when a plugin's dependency is not installed."""

raise ImportError("No module named 'vendor_sdk' (the plugin needs: pip install vendor-sdk)")
