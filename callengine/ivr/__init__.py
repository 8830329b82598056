"""The IVR run over FastAGI: short Indonesian prompts, then back to the dialplan's queue."""
