"""Storage: the tables, their migrations, opening a database, and the SQL of a fire.

Nothing here decides anything: the engine (``workflow.engine``) judges a
transition and this package writes what it decided, in the same transaction.
"""
