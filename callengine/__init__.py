"""callengine: the engine behind a 112 emergency call centre, attached to Asterisk."""

__version__ = "0.1.0"
