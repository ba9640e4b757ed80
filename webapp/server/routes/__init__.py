"""HTTP routes: each one parses the request, calls the core and renders the answer."""
