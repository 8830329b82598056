"""Documentation sent back with an assignment: photos and PDF documents."""
