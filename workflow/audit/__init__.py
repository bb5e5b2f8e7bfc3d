"""The auditor's tools: verify the hash chain, export the log, replay it, see any state as of a moment.

They read the event log through ``workflow.store`` and never write to it.
"""
