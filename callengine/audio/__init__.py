"""Audio: the prompt pipeline (text → Asterisk-ready WAV) and recording post-processing."""
