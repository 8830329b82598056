"""The chain of custody: a call's evidence exported as one ZIP signed with the centre's Ed25519
key (keys.py), built and verified by bundle.py with a readable PDF (pdf.py), every export and
legal hold audited (service.py), from the console (http.py) and the command line."""
