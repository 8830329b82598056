"""The Asterisk side: render the project's config into a runtime folder and run Asterisk."""
