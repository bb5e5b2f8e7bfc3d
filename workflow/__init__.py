"""Filiere: the engine, its persistence, event log, audit and CLI."""
