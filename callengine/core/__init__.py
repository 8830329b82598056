"""What every feature stands on: settings and config files, the clock, logs, the event bus and
component lifecycles. Nothing here imports a feature."""
