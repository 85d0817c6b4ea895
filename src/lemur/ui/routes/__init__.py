"""Page modules: each has a ``router`` of its pages (lemur.ui.api.page_router)."""
