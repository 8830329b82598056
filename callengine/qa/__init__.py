"""Quality assurance: finding calls (search), replaying their recordings with every play
audited and the original's SHA-256 checked, and scoring them on the forms of config/qa.conf.
The chain of custody (signed evidence bundles, legal hold) is callengine/evidence/."""
