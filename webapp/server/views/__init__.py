"""What each page shows of a core result: its templates' context, built off the event loop."""
