"""Protocol adapters for Asterisk: AMI client and FastAGI server."""
