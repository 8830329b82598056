"""Calls: the tracker that turns AMI events into one record per Linkedid, and the record itself."""
