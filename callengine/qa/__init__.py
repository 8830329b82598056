"""Quality assurance: finding calls (search), replaying their recordings with every play
audited and the original's SHA-256 checked, and (to come) scoring and evidence export."""
