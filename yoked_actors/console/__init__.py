"""The operator console: see and steer every job from a browser (docs/console.md).

``app.create_app(settings)`` builds the ASGI app; ``users.add_user`` makes its users.
"""
