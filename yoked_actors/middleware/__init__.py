"""The project's own Dramatiq middleware, one concern per module.

The order in which they run is decided in one place only:
:func:`yoked_actors.broker.middleware_stack`.
"""
